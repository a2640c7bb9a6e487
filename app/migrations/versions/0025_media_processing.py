"""media processing: an upload's state (ready, processing, failed) and its error,
its focal point, and the raw bytes of uploads waiting for the media.process job

Revision ID: 0025_media_processing
Revises: 0024_markers
Create Date: 2026-12-05

"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0025_media_processing"
down_revision = "0024_markers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild); existing rows are processed: "ready"
    op.add_column(
        "media",
        sa.Column(
            "state",
            sqlmodel.sql.sqltypes.AutoString(length=10),
            nullable=False,
            server_default="ready",
        ),
    )
    op.add_column(
        "media", sa.Column("error", sa.Text(), nullable=False, server_default=sa.text("''"))
    )
    op.add_column("media", sa.Column("focus_x", sa.Float(), nullable=True))
    op.add_column("media", sa.Column("focus_y", sa.Float(), nullable=True))
    op.create_table(
        "media_uploads",
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("media_id"),
    )


def downgrade() -> None:
    op.drop_table("media_uploads")
    op.drop_column("media", "focus_y")
    op.drop_column("media", "focus_x")
    op.drop_column("media", "error")
    op.drop_column("media", "state")
