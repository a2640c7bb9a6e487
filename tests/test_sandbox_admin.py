"""The admin page says how submitted modules are isolated here: which limits are in
force (cgroup v2 or the rlimit + seccomp mode), the uid they run as, and the pool."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.test_pages import submit


def test_the_admin_page_shows_the_isolation_mode(client: TestClient, new_ctx) -> None:
    from app.services import accounts

    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    page = client.get("/admin").text
    assert "Ranking sandbox" in page
    assert "SysV shared memory, memfd" in page  # what the memory limit counts, in this mode
    assert "zygotes" in page and "at most 8" in page
