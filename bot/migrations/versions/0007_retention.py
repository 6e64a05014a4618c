"""How long each server keeps its debates, and indexes for deleting them by age and by member.

``guilds.retention_days``: debates started more than that many days ago are deleted daily; ``NULL``
keeps them. The indexes serve the daily purge (a server's debates by start time) and ``/parley forget``
(a server's debates by the member who started them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("guilds", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_index("ix_debates_guild_started", "debates", ["guild_id", "started_at"])
    op.create_index("ix_debates_guild_user", "debates", ["guild_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_debates_guild_user", table_name="debates")
    op.drop_index("ix_debates_guild_started", table_name="debates")
    with op.batch_alter_table("guilds") as batch:
        batch.drop_column("retention_days")
