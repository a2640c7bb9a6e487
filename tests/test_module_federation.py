"""Ranking modules travel between instances: every instance publishes its modules
(source + sha256) as ActivityPub objects, listed from NodeInfo, and a member of
another instance imports one by URL, with the hash checked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.main import create_app
from app.models import AlgorithmModule
from app.services.ranking import registry
from tests.peers import Instance, serving
from tests.server_process import HOST, free_port

AS2 = {"Accept": "application/activity+json"}


@pytest.mark.slow
def test_a_module_published_on_b_is_imported_by_a_member_of_a(sandbox_required: None) -> None:
    with Instance() as a, Instance() as b:
        with b.http() as http:
            listed = http.get("/nodeinfo/2.1").json()["metadata"]["algorithmModules"]
            collection = http.get(listed, headers=AS2)
            assert collection.headers["content-type"].startswith("application/activity+json")
            published = collection.json()["orderedItems"]
        bridging = next(m for m in published if m["name"].lower().startswith("bridging"))
        assert bridging["source"]["mediaType"] == "text/x-python"
        content = bridging["source"]["content"]
        assert hashlib.sha256(content.encode()).hexdigest() == bridging["sha256"]
        assert bridging["id"].startswith(b.url + "/algorithm-versions/")

        a.register("alice")
        r = a.api("POST", "/algorithms/import", "alice", json={"url": bridging["id"]})
        assert r.status_code == 201, r.text
        imported = r.json()
        assert imported["latest"]["sha256"] == bridging["sha256"]
        assert imported["latest"]["forked_from_sha256"] == bridging["sha256"]
        assert imported["author"] == f"{a.url}/users/alice"
        # ...and A publishes it in turn, saying where it came from.
        with a.http() as http:
            mine = http.get(f"/algorithm-versions/{imported['latest']['version_id']}", headers=AS2)
        assert mine.json()["forkedFrom"] == bridging["id"]
        assert mine.json()["sha256"] == bridging["sha256"]


class TamperedPeer(ThreadingHTTPServer):
    """Serves a module document whose source does not match its declared sha256."""

    daemon_threads = True

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://{HOST}:{port}/algorithm-versions/1"
        source = 'NAME = "x"\nPARAMETERS = {}\n\ndef rank(items, context, params):\n    return []\n'
        doc = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.url,
            "type": "Document",
            "name": "x",
            "source": {"content": source + "# changed\n", "mediaType": "text/x-python"},
            "sha256": hashlib.sha256(source.encode()).hexdigest(),
        }
        body = json.dumps(doc).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, port), Handler)


@pytest.fixture
def tampered() -> Iterator[TamperedPeer]:
    with serving(TamperedPeer()) as server:
        yield server


def test_a_module_whose_source_does_not_match_its_hash_is_refused(
    settings,
    engine,
    new_ctx,
    tampered: TamperedPeer,
) -> None:
    app = create_app(settings.model_copy(update={"allow_private_addresses": True}), engine)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.post("/api/cg/v1/accounts", json={"username": "alice", "password": "correct horse"})
        token = client.post(
            "/api/cg/v1/tokens",
            json={"username": "alice", "password": "correct horse", "scope": "write"},
        ).json()["token"]
        r = client.post(
            "/api/cg/v1/algorithms/import",
            json={"url": tampered.url},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 422 and r.json()["error"] == "hash_mismatch"
    with new_ctx() as ctx:
        imported = select(AlgorithmModule).where(AlgorithmModule.origin_url.is_not(None))
        assert ctx.db.exec(imported).all() == []


def test_imports_are_refused_when_the_source_differs_from_the_declared_hash(new_ctx) -> None:
    """The service checks the hash too, whoever calls it."""
    from app.errors import Invalid
    from app.services import accounts

    with new_ctx() as ctx:
        alice = accounts.register(ctx, "alice", "correct horse")
        with pytest.raises(Invalid, match="sha256"):
            registry.submit(
                ctx, alice, 'NAME = "x"\n', imported_from=("https://x.example/m", "0" * 64)
            )


def test_nodeinfo_links_the_published_modules(client: TestClient) -> None:
    meta = client.get("/nodeinfo/2.1").json()["metadata"]
    assert meta["algorithmModules"] == "http://127.0.0.1:8000/algorithms"
    items = client.get("/algorithms", headers=AS2).json()["orderedItems"]
    assert {i["type"] for i in items} == {"Document"}
    assert all(
        hashlib.sha256(i["source"]["content"].encode()).hexdigest() == i["sha256"] for i in items
    )
    assert client.get("/algorithms").headers["content-type"].startswith("text/html")
