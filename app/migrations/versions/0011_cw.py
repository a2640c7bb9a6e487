"""members may always expand content warnings

Revision ID: 0011_cw
Revises: 0009_races
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_cw"
down_revision = "0009_races"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("expand_warnings", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("expand_warnings")
