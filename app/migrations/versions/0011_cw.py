"""artifacts carry content warnings; members may always expand warnings

Revision ID: 0011_cw
Revises: 0009_races
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
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
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(
            sa.Column(
                "content_warning", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("content_warning")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("expand_warnings")
