"""remote actors' names may be longer than local ones

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

WIDENED = [
    ('accounts', 'username', 30),
    ('accounts', 'username_key', 30),
    ('communities', 'name', 40),
    ('communities', 'name_key', 40),
]


def upgrade() -> None:
    for table, column, old in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=old),
                type_=sqlmodel.sql.sqltypes.AutoString(length=100),
                existing_nullable=False,
            )


def downgrade() -> None:
    for table, column, old in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
                type_=sqlmodel.sql.sqltypes.AutoString(length=old),
                existing_nullable=False,
            )
