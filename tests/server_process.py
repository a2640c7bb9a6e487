"""Start real ``commonground`` server processes for tests, scripts and benchmarks.

``migrate`` then ``serve`` on a free 127.0.0.1 port with a fresh data directory,
wait until it answers over HTTP, and stop it afterwards (SIGTERM, then SIGKILL),
showing its output if something went wrong::

    with ServerProcess() as server:
        httpx.get(f"{server.url}/api/cg/v1/communities")
        server.setup_link()  # the first-run link that `serve` printed
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
# the checkout these tests belong to, first on the servers' path: the installed
# script then runs this tree's code even when the venv was installed from another
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # never anything else: these servers run with CG_SCHEME=http
SETUP_LINK = re.compile(r"https?://\S+/setup/[A-Za-z0-9_\-]+")
# Tests and benchmarks sign up, post and deliver far faster than people, all from
# 127.0.0.1: they run with roomy rate limits (tests of the limits set small ones).
ROOMY_LIMITS = {
    f"CG_{name}": "1000000"
    for name in (
        "SIGNUP_LIMIT_PER_CLIENT",
        "POST_LIMIT_PER_ACCOUNT",
        "POST_LIMIT_PER_CLIENT",
        "REACTION_LIMIT_PER_ACCOUNT",
        "REACTION_LIMIT_PER_CLIENT",
        "TOKEN_LIMIT_PER_ACCOUNT",
        "TOKEN_LIMIT_PER_CLIENT",
        "APP_LIMIT_PER_CLIENT",
        "MODULE_LIMIT_PER_ACCOUNT",
        "MODULE_LIMIT_PER_CLIENT",
        "INBOX_LIMIT_PER_DOMAIN",
        "MEDIA_LIMIT_PER_ACCOUNT",
        "MEDIA_LIMIT_PER_CLIENT",
        "REMOTE_MEDIA_LIMIT_PER_DOMAIN",
        "REPORT_LIMIT_PER_ACCOUNT",
        "REPORT_LIMIT_PER_CLIENT",
    )
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _terminate(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL for the process and anything it started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only our children
        process.wait()


_SQLITE_TEMPLATE: list[Path] = []


def _migrated_sqlite() -> Path:
    """A SQLite database migrated by ``commonground migrate`` once per process, for
    each new server to copy: migrating is the same for every instance (it reads no
    settings but the database URL) and a subprocess of its own costs about a second
    of CPU per server. Tests of migrating itself run it for real (test_cli, test_packaging)."""
    if not _SQLITE_TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="cg-template-"))
        env = {**os.environ, "CG_DATA_DIR": str(directory), "PYTHONPATH": _python_path()}
        env.pop("CG_DATABASE_URL", None)
        subprocess.run(
            [commonground(), "migrate"], env=env, capture_output=True, check=True, timeout=120
        )
        _SQLITE_TEMPLATE.append(directory / "commonground.db")
        atexit.register(shutil.rmtree, directory, True)
    return _SQLITE_TEMPLATE[0]


def _python_path() -> str:
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def commonground() -> str:
    """The ``commonground`` script installed next to the running interpreter."""
    path = BIN / "commonground"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `pip install -e '.[dev]'` in this venv")
    return str(path)


class ServerProcess:
    """A ``commonground serve`` process on 127.0.0.1; a context manager.

    ``env`` adds or overrides environment variables, ``database_url`` sets
    ``CG_DATABASE_URL`` (default: SQLite in the fresh data directory).
    """

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        data_dir: Path | None = None,
        with_worker: bool = False,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._fixed_port = port is not None
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="cg-serve-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self._extra_env = dict(env or {})
        if database_url:
            self._extra_env["CG_DATABASE_URL"] = database_url
        self.with_worker = with_worker
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir / "server.log"
        self.process: subprocess.Popen | None = None
        self._log = None
        self._saved_output: str | None = None
        self._use_port(port or free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.env = {
            **os.environ,
            "CG_DATA_DIR": str(self.data_dir),
            "CG_DOMAIN": f"{HOST}:{port}",
            "CG_SCHEME": "http",
            "CG_ARGON2_TIME_COST": "1",
            "CG_ARGON2_MEMORY_KIB": "1024",
            "CG_WORKER_POLL_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": _python_path(),
            **ROOMY_LIMITS,
            **self._extra_env,
        }

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run another ``commonground`` command against the same instance."""
        result = subprocess.run(
            [commonground(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`commonground {' '.join(args)}` failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def start(self) -> ServerProcess:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            database = self.data_dir / "commonground.db"
            if "CG_DATABASE_URL" not in self.env and not database.exists():
                shutil.copyfile(_migrated_sqlite(), database)
            else:
                self.run("migrate")
            for attempt in range(3):
                if self._launch_and_wait():
                    return self
                # Another process took the port between free_port() and bind(): try another.
                if self._fixed_port or attempt == 2:
                    break
                self._use_port(free_port())
            raise RuntimeError(f"the server exited early:\n{self.output()}")
        except BaseException:
            self.stop()
            raise

    def _launch_and_wait(self) -> bool:
        """True once the server answers; False if it lost the port race."""
        command = [commonground(), "serve", "--host", HOST, "--port", str(self.port)]
        if self.with_worker:
            command.append("--with-worker")
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a ^C in the terminal reaches pytest, not the server
        )
        # never outlive this interpreter, even if the caller forgets stop()
        self._finalizer = weakref.finalize(self, _terminate, self.process)
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(trust_env=False, timeout=2) as http:  # no proxy for 127.0.0.1
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    if "address already in use" in self.output().lower():
                        return False
                    raise RuntimeError(
                        f"the server exited with {self.process.returncode}:\n{self.output()}"
                    )
                try:
                    if http.get(f"{self.url}/").status_code < 500:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(
            f"the server did not answer at {self.url} within {self.startup_timeout:.0f} s:\n"
            f"{self.output()}"
        )

    def output(self) -> str:
        """Everything the server printed so far (also after it stopped)."""
        if self._saved_output is not None:
            return self._saved_output
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def setup_link(self) -> str | None:
        """The first-run setup link printed by ``serve``, if it printed one."""
        match = SETUP_LINK.search(self.output())
        return match.group(0) if match else None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            _terminate(process)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._saved_output is None:
            self._saved_output = self.output()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.stop()
        if exc_type is not None:
            # pytest shows captured stdout of a failing test
            print(f"--- server output ({self.url}) ---\n{self.output()}")
