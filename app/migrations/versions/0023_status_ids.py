"""status ids: a time-sortable id for every post (the Mastodon client API's status id);
idempotency keys of posts made through that API

Revision ID: 0023_status_ids
Revises: 0022_oauth
Create Date: 2026-12-04

Re-chain onto 0022_oauth (down_revision) when the OAuth branch is merged.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0023_status_ids"
down_revision = "0022_oauth"
branch_labels = None
depends_on = None

BATCH = 1000
BITS = 16  # as app/services/posts.py STATUS_ID_BITS; kept here so the migration stays as written


def upgrade() -> None:
    # plain ADD COLUMN and CREATE INDEX (no table rebuild), so the search triggers on posts stay
    op.add_column("posts", sa.Column("status_id", sa.BigInteger(), nullable=True))
    posts = sa.table(
        "posts",
        sa.column("id", sa.Integer()),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("status_id", sa.BigInteger()),
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(posts.c.id, posts.c.created_at)
            .where(posts.c.id > last)
            .order_by(posts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row_id, created_at in rows:
            ms = max(int(created_at.timestamp() * 1000), 0)
            value = (ms << BITS) | (row_id & ((1 << BITS) - 1))
            conn.execute(posts.update().where(posts.c.id == row_id).values(status_id=value))
        last = rows[-1][0]
    op.create_index("ix_posts_status_id", "posts", ["status_id"], unique=True)
    op.create_index("ix_posts_author_status", "posts", ["author_id", "status_id"])
    op.create_index("ix_posts_community_status", "posts", ["community_id", "status_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "key", name="uq_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_post_id", "idempotency_keys", ["post_id"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_posts_community_status", table_name="posts")
    op.drop_index("ix_posts_author_status", table_name="posts")
    op.drop_index("ix_posts_status_id", table_name="posts")
    op.drop_column("posts", "status_id")
