"""The Mastodon client API (docs/mastodon-api.md), so Mastodon apps work with
Commonground: its OAuth 2 (app registration, authorization, tokens) and the client
endpoints. :mod:`app.mastodon.client_api` gathers them into one router; this package
imports nothing at start, so :mod:`app.mastodon.problems` is cheap to import."""
