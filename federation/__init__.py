"""ActivityPub federation: discovery, actors, objects, signatures, inbox and delivery.

Everything here calls the domain service layer (:mod:`app.services`); it holds
the protocol, not the business rules.
"""
