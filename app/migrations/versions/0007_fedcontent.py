"""posts keep what a remote object carries: content warning, attachments, poll

Revision ID: 0007_fedcontent
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_fedcontent"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(
            sa.Column(
                "content_warning", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
            )
        )
        batch.add_column(sa.Column("attachments", sa.Text(), nullable=True))
        batch.add_column(sa.Column("poll", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("poll")
        batch.drop_column("attachments")
        batch.drop_column("content_warning")
