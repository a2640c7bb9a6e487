"""Importing a Mastodon CSV (ours, from app/services/account_export.py, or any
Mastodon-compatible server's): the accounts one follows, blocks or mutes.

The file is read whole first: a wrong header, a file that is not UTF-8 text or is
too large is refused with nothing applied. Then each line is judged alone: a line
that names no account is reported back with its number, the others are applied.
Accounts known here (local ones, remote ones met before) are followed, blocked or
muted at once through their services; unknown remote ones are looked up by an
``ap.import_resolve`` job per line (WebFinger is a remote fetch, never inside this
write), which then applies the line the same way (:func:`apply_one`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from app.errors import DomainError, Invalid, NotFound, TooLarge
from app.infra import jobs
from app.models import Account, Community
from app.services import Ctx, blocks, follows, mutes

KINDS = ("following", "blocks", "mutes")
MAX_LINES = 5000
ADDRESS = re.compile(r"^[A-Za-z0-9_.\-]{1,100}@[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?$")
HEADER = "Account address"


@dataclass
class Outcome:
    applied: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)  # remote accounts being looked up
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def parse(
    kind: str, data: bytes, limit: int
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The addresses of a file, each with its line number, and the refused lines."""
    if kind not in KINDS:
        raise Invalid("Say what the file holds: following, blocks or mutes.", code="invalid_type")
    if len(data) > limit:
        raise TooLarge(f"The file is larger than {limit} bytes.", code="file_too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text.", code="invalid_file") from None
    if "\x00" in text:
        raise Invalid("The file is not a CSV file.", code="invalid_file")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        raise Invalid("The file is not a CSV file.", code="invalid_file") from None
    if len(rows) > MAX_LINES + 1:
        raise Invalid(f"A file has at most {MAX_LINES} lines.", code="too_many_lines")
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if numbered and numbered[0][1][0].strip() == HEADER:
        numbered = numbered[1:]
    elif numbered and kind != "blocks" and not ADDRESS.match(numbered[0][1][0].strip().lstrip("@")):
        raise Invalid(
            f"The first line must be Mastodon's header, starting with “{HEADER}”.",
            code="invalid_header",
        )
    good, bad = [], []
    for number, row in numbered:
        address = row[0].strip().lstrip("@")
        if ADDRESS.match(address):
            good.append((number, address))
        else:
            bad.append((number, f"“{address[:100]}” is not an account address (name@domain)."))
    return good, bad


def apply_one(ctx: Ctx, member: Account, kind: str, target: Account | Community) -> None:
    if kind == "following":
        follows.follow(ctx, member, target)
    elif kind == "blocks":
        blocks.block(ctx, member, target)
    elif isinstance(target, Account):
        mutes.mute(ctx, member, mutes.Target("account", target.uri))
    else:
        raise Invalid("Only members can be muted.", code="invalid_target")


def run(ctx: Ctx, member: Account, kind: str, data: bytes) -> Outcome:
    good, bad = parse(kind, data, ctx.settings.import_max_bytes)
    outcome = Outcome(errors=bad)
    for number, address in good:
        try:
            target = follows.resolve_target(ctx, address)
        except NotFound:
            if address.partition("@")[2].lower() == ctx.settings.domain:
                outcome.errors.append((number, f"There is no member {address} here."))
            else:
                jobs.enqueue(
                    ctx,
                    "ap.import_resolve",
                    {"account_id": member.id, "kind": kind, "address": address},
                )
                outcome.queued.append(address)
            continue
        try:
            with ctx.db.begin_nested():  # a refused line leaves nothing behind
                apply_one(ctx, member, kind, target)
        except DomainError as exc:
            outcome.errors.append((number, str(exc.detail)))
            continue
        outcome.applied.append(address)
    outcome.errors.sort()
    return outcome
