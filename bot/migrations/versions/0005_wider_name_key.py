"""Room in ``personas.name_key`` for any valid name case-folded: up to 3 code points per character.

``"ß" * 64`` folds to 128 characters ("ss" each), and a name of 64 "ΐ" to 192, which ``String(64)``
refused on PostgreSQL. SQLite ignores the length, but its copy of the schema says the same thing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAME_MAX_LENGTH = 64
NAME_KEY_LENGTH = 3 * NAME_MAX_LENGTH  # the most code points full case folding makes of one


def upgrade() -> None:
    with op.batch_alter_table("personas") as batch:
        batch.alter_column(
            "name_key",
            existing_type=sa.String(NAME_MAX_LENGTH),
            type_=sa.String(NAME_KEY_LENGTH),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("personas") as batch:
        batch.alter_column(
            "name_key",
            existing_type=sa.String(NAME_KEY_LENGTH),
            type_=sa.String(NAME_MAX_LENGTH),
            existing_nullable=False,
        )
