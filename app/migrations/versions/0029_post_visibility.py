"""posts.visibility: "public" or "unlisted" (Mastodon's unlisted: on the profile and
by link, never in the public or hashtag timelines)

Revision ID: 0029_post_visibility
Revises: 0028_boosts
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_post_visibility"
down_revision = "0028_boosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain add_column: posts has search triggers, which a batch copy on SQLite drops
    op.add_column(
        "posts",
        sa.Column("visibility", sa.String(length=20), nullable=False, server_default="public"),
    )


def downgrade() -> None:
    op.drop_column("posts", "visibility")
