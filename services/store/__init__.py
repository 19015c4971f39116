"""Persistence, the bottom layer: tables, the database, migrations and one store per aggregate."""
