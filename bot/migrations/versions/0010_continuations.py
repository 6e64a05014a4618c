"""Continuations: a debate may continue another (one more round, or a follow-up question).

``debates.continues_id`` is the debate it continues (its parent; deleting a debate deletes its
continuations, which quote it), ``root_id`` the first debate of the chain, ``kind`` ``round`` or
``followup``; all null for a debate asked with ``/debate``. ``next_round_id`` is the one round that
continues this debate (claimed atomically when a member asks for it); null while there is none.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; a batch would rebuild the table, and dropping
        # the old one would cascade to every reply.
        op.execute(
            "ALTER TABLE debates ADD COLUMN continues_id INTEGER "
            "CONSTRAINT fk_debates_continues_id REFERENCES debates (id) ON DELETE CASCADE"
        )
    else:
        op.add_column("debates", sa.Column("continues_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_debates_continues_id", "debates", "debates", ["continues_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("debates") as batch:
        batch.add_column(sa.Column("root_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("next_round_id", sa.Integer(), nullable=True))
        batch.create_index("ix_debates_continues_id", ["continues_id"])
        batch.create_index("ix_debates_root_id", ["root_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_debates_continues_id", "debates", type_="foreignkey")
    with op.batch_alter_table("debates") as batch:
        batch.drop_index("ix_debates_root_id")
        batch.drop_index("ix_debates_continues_id")
        batch.drop_column("next_round_id")
        batch.drop_column("kind")
        batch.drop_column("root_id")
        batch.drop_column("continues_id")
