"""bookmarks and pinned posts

Revision ID: 0026_bookmarks_pins
Revises: 0025_media_processing
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0026_bookmarks_pins"
down_revision = "0025_media_processing"
branch_labels = None
depends_on = None


def _pairs(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "post_id", name=f"uq_{name}_pair"),
    )
    op.create_index(f"ix_{name}_account_id", name, ["account_id"])
    op.create_index(f"ix_{name}_post_id", name, ["post_id"])


def upgrade() -> None:
    _pairs("bookmarks")
    _pairs("pins")


def downgrade() -> None:
    op.drop_table("pins")
    op.drop_table("bookmarks")
