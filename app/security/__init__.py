"""Credentials and request protection: passwords, tokens, CSRF, rate limits."""
