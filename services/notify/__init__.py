"""Notifications: what is sent, and the channels that deliver it in the background."""
