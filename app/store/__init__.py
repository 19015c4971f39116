"""Persistence per aggregate: short sessions over `app.db.Database`, secrets sealed on write."""
