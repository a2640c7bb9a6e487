"""status ids with two kind bits: every post's status id keeps its lowest two bits
0, so the id just above it (0b01) is free for the boost of a community post by its
Group and 0b10 ids for members' boosts (the Mastodon client API's boost ids,
app/mastodon/ids.py; app/services/boosts.py). The name says "even" from when there
was one bit; the revision id stays as it was.

Revision ID: 0027_even_status_ids
Revises: 0026_bookmarks_pins
Create Date: 2026-12-05


"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0027_even_status_ids"
down_revision = "0026_bookmarks_pins"
branch_labels = None
depends_on = None

BATCH = 1000
BITS = 16  # as app/services/posts.py STATUS_ID_BITS; kept here so the migration stays as written
LOW = (1 << BITS) - 1


def _renumber(even: bool) -> None:
    """Every post's status id from its stored time, the unique index dropped while the
    ids move (a new id may equal another row's old one until it moves too)."""
    posts = sa.table(
        "posts",
        sa.column("id", sa.Integer()),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("status_id", sa.BigInteger()),
    )
    op.drop_index("ix_posts_status_id", table_name="posts")
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
            low = ((row_id << 2) if even else row_id) & LOW
            conn.execute(
                posts.update().where(posts.c.id == row_id).values(status_id=(ms << BITS) | low)
            )
        last = rows[-1][0]
    op.create_index("ix_posts_status_id", "posts", ["status_id"], unique=True)


def upgrade() -> None:
    _renumber(even=True)


def downgrade() -> None:
    _renumber(even=False)
