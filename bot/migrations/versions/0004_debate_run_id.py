"""Which run of the bot started each debate, so that recovery closes only earlier runs' debates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("debates", sa.Column("run_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("debates") as batch:
        batch.drop_column("run_id")
