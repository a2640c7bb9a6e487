"""The ``commonground`` command: serve, migrate, worker, create-admin, demo-data."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading

import click

from app.config import Settings, load_settings

SHUTDOWN_GRACE_SECONDS = 3  # how long `serve` lets open requests finish on SIGTERM


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic explains which CG_* variable is wrong
        raise click.ClickException(f"configuration error:\n{exc}") from exc


def _ctx_transaction(settings: Settings):
    from contextlib import contextmanager

    from app import plugins
    from app.db import make_engine, transaction
    from app.services import Ctx

    plugins.load()  # the same event listeners (e.g. federation) as the server

    @contextmanager
    def run():
        engine = make_engine(settings.resolved_database_url)
        try:
            with transaction(engine) as db:
                yield Ctx(db, settings)
        finally:
            engine.dispose()

    return run()


@click.group()
def main() -> None:
    """Commonground: a federated social network for communities."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run any time)."""
    from app.migrate import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    click.echo(f"database is up to date: {_redact(settings.resolved_database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=None, type=int, help="web worker processes (default CG_WEB_WORKERS)"
)
@click.option(
    "--with-worker/--no-worker",
    default=False,
    help="also run the background job worker in this process (handy for one-box setups)",
)
def serve(host: str, port: int, workers: int | None, with_worker: bool) -> None:
    """Serve the web pages and the API."""
    import uvicorn

    from app.migrate import is_current
    from app.services import setup

    settings = _settings()
    if not is_current(settings.resolved_database_url):
        raise click.ClickException("the database schema is out of date: run `commonground migrate`")
    with _ctx_transaction(settings) as ctx:
        token = setup.issue_setup_token(ctx)
        if token:
            url = setup.setup_url(ctx, token)
    if token:
        banner = "=" * 72
        click.echo(
            f"\n{banner}\n  This instance has no admin yet. Open this one-time link to create\n"
            f"  the admin account and your first community:\n\n    {url}\n\n"
            f"  (or run: commonground create-admin USERNAME)\n{banner}\n"
        )
    if with_worker:
        threading.Thread(target=_worker_thread, args=(settings,), daemon=True).start()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.web_workers,
        proxy_headers=True,
        log_level="info",
        # then what is still open (live streams above all) is cancelled: a stream
        # would otherwise hold the shutdown for its whole life (CG_STREAM_MAX_SECONDS)
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def _run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Schedule housekeeping, then run jobs until ``stop`` (or SIGTERM/SIGINT)."""
    from app import plugins
    from app.db import make_engine, transaction
    from app.infra import jobs
    from app.services import Ctx, maintenance

    plugins.load()
    engine = make_engine(settings.resolved_database_url)
    with transaction(engine) as db:
        jobs.ensure_scheduled(Ctx(db, settings), "maintenance.prune", maintenance.PRUNE_EVERY)
        for kind, every in jobs.PERIODIC.items():
            jobs.ensure_scheduled(Ctx(db, settings), kind, every)
    # SQLite has one writer; a single job at a time there, several on PostgreSQL.
    concurrency = 1 if engine.dialect.name == "sqlite" else settings.worker_concurrency

    async def main_loop() -> None:
        done = stop or asyncio.Event()
        if stop is None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, done.set)
        await jobs.work(engine, settings, done, concurrency=concurrency)

    try:
        asyncio.run(main_loop())
    finally:
        engine.dispose()


def _worker_thread(settings: Settings) -> None:
    """The worker inside `serve --with-worker`: a daemon thread with its own loop."""
    try:
        _run_worker(settings, asyncio.Event())
    except Exception:  # the web server keeps serving; the error is logged
        logging.getLogger("commonground.worker").exception("background worker stopped")


@main.command()
def worker() -> None:
    """Run background jobs until stopped (SIGTERM/SIGINT finish the running jobs first)."""
    settings = _settings()
    click.echo(f"worker {os.getpid()} started")
    _run_worker(settings)
    click.echo("worker stopped")


@main.command("create-admin")
@click.argument("username")
@click.option("--display-name", default="")
def create_admin(username: str, display_name: str) -> None:
    """Create an instance admin. The password comes from CG_ADMIN_PASSWORD or a prompt."""
    from app.errors import DomainError
    from app.services import accounts

    password = os.environ.get("CG_ADMIN_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    settings = _settings()
    try:
        with _ctx_transaction(settings) as ctx:
            accounts.register(ctx, username, password, display_name, is_admin=True)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"admin “{username}” created; log in at {settings.base_url}/login")


@main.command()
@click.argument("username")
@click.argument("target")
def follow(username: str, target: str) -> None:
    """Make a local member follow TARGET (name, name@domain or an actor URL).
    A remote target is looked up first; the worker delivers the Follow."""
    from app.db import make_engine
    from app.errors import DomainError
    from app.services import accounts, follows
    from federation.fetcher import FetchError
    from federation.network import ensure_known
    from federation.remote import InvalidActor

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        asyncio.run(ensure_known(engine, settings, target))
        with _ctx_transaction(settings) as ctx:
            found = follows.resolve_target(ctx, target)
            state = follows.follow(ctx, accounts.get_local(ctx, username), found).state
    except (DomainError, FetchError, InvalidActor) as exc:
        raise click.ClickException(getattr(exc, "detail", None) or str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"{username} follows {found.uri} ({state})")


@main.command("demo-data")
def demo_data() -> None:
    """Fill the instance with a few members, communities and threads."""
    from app.services import demo

    settings = _settings()
    with _ctx_transaction(settings) as ctx:
        counts = demo.load(ctx)
    if not counts["members"]:
        click.echo("demo data is already there")
    else:
        click.echo(
            f"added {counts['members']} members, {counts['communities']} communities and "
            f"{counts['posts']} posts; every demo member's password is “{demo.DEMO_PASSWORD}”"
        )
        click.echo(f"log in as ada at {settings.base_url}/login")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
