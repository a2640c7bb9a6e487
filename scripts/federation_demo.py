"""`make federation-demo`: two instances on 127.0.0.1:8000 and :8001 that follow each other.

Each gets its own SQLite database under ``data/federation-demo/``, the demo
members and communities, and a web server with its worker. Then members on each
side follow a community on the other, and a greeting is posted on each side, so
that within a minute each home feed shows posts from the other instance.
Everything stays on loopback (``CG_ALLOW_PRIVATE_ADDRESSES=1`` is for demos only).
Ctrl+C stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORTS = tuple(int(p) for p in os.environ.get("DEMO_PORTS", "8000,8001").split(","))
DATA = Path(os.environ.get("DEMO_DATA_DIR", ROOT / "data" / "federation-demo"))


def env_for(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CG_DATA_DIR": str(DATA / str(port)),
        "CG_DOMAIN": f"127.0.0.1:{port}",
        "CG_SCHEME": "http",
        "CG_ALLOW_PRIVATE_ADDRESSES": "1",
        "CG_INSTANCE_NAME": f"Commonground :{port}",
        "CG_WORKER_POLL_SECONDS": "0.5",
        "CG_RETRY_BASE_SECONDS": "2",
    }


def cg(port: int, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own command
        [str(BIN / "commonground"), *args],
        env=env_for(port),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"`commonground {' '.join(args)}` on :{port} failed:\n{result.stderr}")
    return result.stdout.strip()


def wait_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server on :{port} exited; is the port taken?")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    sys.exit(f"the server on :{port} did not start")


def token(port: int, username: str, scope: str = "read") -> str:
    r = httpx.post(
        f"http://127.0.0.1:{port}/api/cg/v1/tokens",
        json={"username": username, "password": "demo-password", "scope": scope},
        trust_env=False,
    )
    r.raise_for_status()
    return r.json()["token"]


def remote_items(port: int, auth: str) -> list[str]:
    """Ids of posts in the member's home feed that live on another instance."""
    r = httpx.get(
        f"http://127.0.0.1:{port}/api/cg/v1/feed/home",
        headers={"Authorization": f"Bearer {auth}"},
        trust_env=False,
    )
    r.raise_for_status()
    return [i["id"] for i in r.json()["items"] if f"127.0.0.1:{port}/" not in i["id"]]


def check(a: int, b: int) -> None:
    """--check: wait until each side's feed shows the other's posts, then stop."""
    readers = {a: token(a, "ada"), b: token(b, "ben")}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = {port: remote_items(port, auth) for port, auth in readers.items()}
        if all(seen.values()):
            print(f"federation works: {len(seen[a])} remote posts on :{a}, {len(seen[b])} on :{b}")
            return
        time.sleep(1)
    sys.exit(f"no remote posts arrived within 90 s: {seen}")


def main() -> None:
    servers: list[subprocess.Popen] = []
    try:
        for port in PORTS:
            cg(port, "migrate")
            cg(port, "demo-data")
            servers.append(
                subprocess.Popen(  # noqa: S603 - our own command
                    [str(BIN / "commonground"), "serve", "--host", "127.0.0.1"]
                    + ["--port", str(port), "--with-worker"],
                    env=env_for(port),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port, process in zip(PORTS, servers, strict=True):
            wait_up(port, process)
        a, b = PORTS
        print(cg(a, "follow", "ada", f"riverside@127.0.0.1:{b}"))
        print(cg(a, "follow", "ada", f"dev@127.0.0.1:{b}"))
        print(cg(b, "follow", "ben", f"mobility@127.0.0.1:{a}"))
        print(cg(b, "follow", "ben", f"ada@127.0.0.1:{a}"))
        for port, other in ((a, b), (b, a)):
            auth = token(port, "dev" if port == b else "ada", "write")
            httpx.post(
                f"http://127.0.0.1:{port}/api/cg/v1/posts",
                json={"text": f"Hello to everyone following along from :{other}! #federation"},
                headers={"Authorization": f"Bearer {auth}"},
                trust_env=False,
            )
        print(
            "\nTwo instances are federating:\n"
            f"  http://127.0.0.1:{a}  log in as ada (password demo-password): your home feed\n"
            f"      shows Riverside Commons and dev from :{b}\n"
            f"  http://127.0.0.1:{b}  log in as ben (password demo-password): your home feed\n"
            f"      shows Getting Around and ada from :{a}\n"
            "Reply to a post from the other side and watch it appear there.\n"
            "Ctrl+C stops both."
        )
        if "--check" in sys.argv:
            check(a, b)
            return
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
