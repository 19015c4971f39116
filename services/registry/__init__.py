"""The OCI distribution registry adapter: tags, digests, token auth; one client per registry."""
