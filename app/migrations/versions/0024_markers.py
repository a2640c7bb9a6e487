"""markers: where a member stopped reading a timeline (the Mastodon API's read markers)

Revision ID: 0024_markers
Revises: 0023_status_ids
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0024_markers"
down_revision = "0023_status_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "markers",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("timeline", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "timeline"),
    )


def downgrade() -> None:
    op.drop_table("markers")
