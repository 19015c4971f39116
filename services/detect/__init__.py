"""Detecting new images: the webhook, the registry poller, the intake, quick deploy."""
