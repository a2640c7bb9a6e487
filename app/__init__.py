"""Commonground: a federated social network for communities that build shared realities."""

__version__ = "0.1.0"
