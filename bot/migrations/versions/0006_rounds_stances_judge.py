"""Rebuttal rounds, stances and the judge's reading order.

A debate has 1–3 rounds, so a reply is keyed by its round as well as its persona's position; each
reply keeps the stance, confidence and key claim the persona gave; a debate keeps how many rounds it
had, the order its judge read the answers in (panel indexes, ``Persona A`` first) and the model that
wrote its verdict (the fallback's when the verdict model failed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MODEL_NAME_MAX_LENGTH = 100


_REPLY_COLUMNS = "debate_id, position, persona, text, failure, cut_off, latency_s, tokens"


def _replies_table(name: str, *, with_rounds: bool) -> None:
    """``debate_replies`` as a new table ``name``, keyed by round too when ``with_rounds``."""
    rounds: list[sa.Column[object]] = (
        [
            sa.Column("round", sa.Integer(), nullable=False),
            sa.Column("stance", sa.String(16), nullable=True),
            sa.Column("confidence", sa.Float(), nullable=True),
            sa.Column("key_claim", sa.Text(), nullable=True),
        ]
        if with_rounds
        else []
    )
    key = ["debate_id", "round", "position"] if with_rounds else ["debate_id", "position"]
    op.create_table(
        name,
        sa.Column("debate_id", sa.Integer(), sa.ForeignKey("debates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("cut_off", sa.Boolean(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        *rounds,
        sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
    )


def upgrade() -> None:
    with op.batch_alter_table("debates") as batch:
        batch.add_column(sa.Column("rounds", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("judge_order", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("verdict_model", sa.String(MODEL_NAME_MAX_LENGTH), nullable=True))
    # A new primary key: the table is rebuilt (the same way on SQLite and PostgreSQL), its rows round 1.
    _replies_table("debate_replies_by_round", with_rounds=True)
    op.execute(
        f"INSERT INTO debate_replies_by_round ({_REPLY_COLUMNS}, round) "
        f"SELECT {_REPLY_COLUMNS}, 1 FROM debate_replies"
    )
    op.drop_table("debate_replies")
    op.rename_table("debate_replies_by_round", "debate_replies")


def downgrade() -> None:
    _replies_table("debate_replies_first_round", with_rounds=False)
    op.execute(
        f"INSERT INTO debate_replies_first_round ({_REPLY_COLUMNS}) "
        f"SELECT {_REPLY_COLUMNS} FROM debate_replies WHERE round = 1"
    )
    op.drop_table("debate_replies")
    op.rename_table("debate_replies_first_round", "debate_replies")
    with op.batch_alter_table("debates") as batch:
        batch.drop_column("verdict_model")
        batch.drop_column("judge_order")
        batch.drop_column("rounds")
