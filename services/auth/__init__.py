"""Signing in: local accounts, session tokens, sign-in throttling."""
