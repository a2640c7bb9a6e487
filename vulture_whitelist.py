"""Names vulture (``make deadcode``) reports that are not dead: each is used by something
vulture cannot follow. Decorated entry points (routes, listeners, job handlers,
validators) are ignored in pyproject's [tool.vulture]; this file is for the rest.
Adding a name here needs a reason next to it. Not imported by anything."""

# Called by a framework, by name
create_app  # uvicorn --factory app.main:create_app
_.connect_unix_socket  # httpcore's AsyncNetworkBackend interface (federation/fetcher.py)
_.find_library  # ctypes.util.find_library, swapped in the sandbox (algorithms/sandbox_worker.py)
_.isolation_level  # sqlite3's autocommit switch, set on the DBAPI connection (app/db.py)
model_config  # pydantic
NAME  # a ranking module's name, read by the loader (algorithms/builtin/*)
federation  # app/plugins.py imports federation.* for their event listeners

# Parameters whose names the caller fixes: __import__, print and __exit__
fromlist
locals
kwargs
exc_type
tb

# Settings read by name: app/services/ratelimit.py looks up "<kind>_limit_per_account" etc.
signup_limit_per_client
signup_limit_window_seconds
post_limit_per_account
post_limit_per_client
post_limit_window_seconds
reaction_limit_per_account
reaction_limit_per_client
reaction_limit_window_seconds
token_limit_per_account
token_limit_per_client
token_limit_window_seconds
module_limit_per_account
media_limit_per_account  # read by name in app/infra/ratelimit.py SETTINGS
media_limit_per_client
report_limit_per_account  # read by name in app/infra/ratelimit.py SETTINGS
report_limit_per_client
report_limit_window_seconds
media_limit_window_seconds
mail_limit_per_address  # read by name in app/infra/ratelimit.py SETTINGS ("mail")
mail_limit_per_client
mail_limit_window_seconds
app_limit_per_client  # read by name in app/infra/ratelimit.py SETTINGS ("app")
app_limit_window_seconds
email_required  # RegistrationOut, an API answer's field (app/api/registration.py)
email_verified  # MeOut, an API answer's field (app/api/schemas.py)
preview_path  # MediaView, read by macros.html
module_limit_per_client
module_limit_window_seconds

# Table columns (app/models.py): written, stored and shown, though no Python reads them back
created_by_id
written_at
replaced_at
actor_type
followers
received_at
processed_at
stances_seen
closed_at

# Response fields (app/api/*schemas.py, app/services/views.py): serialised to JSON and pages
from_revision
words_added
words_removed
by
other_title
end_time
thread_url
deleted
source_url
changed_by
by_state
recent_failures
failures_24h
attempts_24h
decided_by  # DecisionOut (app/api/registration.py)
media_added  # an artifact revision's images, against its parent (artifact_schemas.RevisionOut)
media_removed

# The ranking-module contract as published to module authors (algorithms/contract.py)
CONTRACT_VERSION
ITEM_FIELDS
CONTEXT_FIELDS

# Used only by the tests and bench/: the way to run exactly one queued job
run_one

# TypedDict fields, written and read by key (["consensus"]), which vulture does not count
approval  # federation/remote.ActorFields
participants  # app/services/commonground.Map, shown by the artifact page
consensus
divisive
divisiveness
fixture_items  # app/services/ranking/registry.DryRun, kept in a version's report
latency_ms
p50
p99

# Written on every fetch of a remote actor document or key (federation/remote.py): the
# record of how old a cached copy is, for an operator reading the table. Key refresh
# itself is rate-limited in memory (federation/signatures.KeyRefreshes), not by this column.
fetched_at
forwarded  # ReportOut: whether a report's Flag was sent (app/api/reports.py)
on_flag  # registered by @handlers.handles("Flag") (federation/flags.py)

# account lifecycle: a response field (app/api/account_data.ExportOut) read by API
# clients, and the archive's ActivityStreams files, registered by a decorator
download_url
activitystreams_files
# account moves: a response field (app/api/account_data.AliasesOut) and a TypedDict
# key (federation/remote.ActorFields["moved_to"]), read by clients and by key
moved_to

# app/api/moderation.LogEntryOut: which earlier entry a reversal reverses, for API clients
reverses
