"""communities set floors on their votes: shortest window, smallest quorum, who opens

Revision ID: 0008_vote_floors
Revises: 0007_fedcontent
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_vote_floors"
down_revision = "0007_fedcontent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(
            sa.Column("vote_min_hours", sa.Integer(), nullable=False, server_default="24")
        )
        batch.add_column(
            sa.Column("vote_quorum_percent", sa.Integer(), nullable=False, server_default="10")
        )
        batch.add_column(
            sa.Column(
                "vote_openers",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="members",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("vote_openers")
        batch.drop_column("vote_quorum_percent")
        batch.drop_column("vote_min_hours")
