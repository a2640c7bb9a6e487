"""ActivityPub federation: discovery, actors, objects and collections today; the
SSRF-safe fetcher and HTTP signatures the inbox and delivery will use.

Everything here calls the domain service layer (:mod:`app.services`); it holds
the protocol, not the business rules.
"""
