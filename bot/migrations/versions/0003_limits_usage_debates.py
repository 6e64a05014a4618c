"""Cost limits per server, daily token usage, and a record of every debate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("guilds", sa.Column("cooldown_s", sa.Integer(), nullable=True))
    op.add_column("guilds", sa.Column("max_debates", sa.Integer(), nullable=True))
    op.add_column("guilds", sa.Column("daily_token_budget", sa.BigInteger(), nullable=True))
    op.create_table(
        "token_usage",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "debates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("panel", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_message_id", sa.BigInteger(), nullable=True),
        sa.Column("posts_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("verdict", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("wall_s", sa.Float(), nullable=True),
        sa.Column("persona_sum_s", sa.Float(), nullable=True),
        sa.Column("verdict_s", sa.Float(), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_debates_status", "debates", ["status"])
    op.create_table(
        "debate_replies",
        sa.Column(
            "debate_id", sa.Integer(), sa.ForeignKey("debates.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("cut_off", sa.Boolean(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("debate_replies")
    op.drop_index("ix_debates_status", table_name="debates")
    op.drop_table("debates")
    op.drop_table("token_usage")
    op.drop_column("guilds", "daily_token_budget")
    op.drop_column("guilds", "max_debates")
    op.drop_column("guilds", "cooldown_s")
