"""Start real ``commonground`` server processes for tests: migrate, serve on a
free 127.0.0.1 port, wait until it answers, and stop it afterwards (showing its
output if something went wrong)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``with ServerProcess() as server: httpx.get(server.url)``"""

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        with_worker: bool = False,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="cg-serve-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.env = {
            **os.environ,
            "CG_DATA_DIR": str(self.data_dir),
            "CG_DOMAIN": f"127.0.0.1:{self.port}",
            "CG_SCHEME": "http",
            "CG_ARGON2_TIME_COST": "1",
            "CG_ARGON2_MEMORY_KIB": "1024",
            "CG_WORKER_POLL_SECONDS": "0.2",
            **(env or {}),
        }
        self.with_worker = with_worker
        self.log_path = self.data_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """Run another ``commonground`` command against the same instance."""
        return subprocess.run(
            [str(BIN / "commonground"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run("migrate")
        command = [
            str(BIN / "commonground"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.with_worker:
            command.append("--with-worker")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within 60 s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def setup_link(self) -> str | None:
        match = re.search(r"(http://\S+/setup/\S+)", self.output())
        return match.group(1) if match else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            print(f"--- server output ({self.url}) ---\n{self.output()}")  # noqa: T201
        self.stop()
