"""Choosing a certificate for a host name, and what Settings warns about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.npm.certificates import best_covering, certificate_warnings
from services.npm.values import Certificate

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def cert(cert_id: int, *names: str, days: float | None = 60) -> Certificate:
    expires = None if days is None else NOW + timedelta(days=days)
    return Certificate(cert_id, "letsencrypt", f"c{cert_id}", names, expires)


def test_exact_beats_wildcard_and_the_later_expiry_wins_among_equals() -> None:
    held = [cert(1, "*.example.com", days=300), cert(2, "app.example.com", days=20)]
    assert best_covering(held, "App.Example.com", NOW) == held[1]
    held.append(cert(3, "*.example.com", days=400))
    assert best_covering(held, "other.example.com", NOW) == held[2]


def test_a_wildcard_covers_exactly_one_label() -> None:
    held = [cert(1, "*.example.com")]
    assert best_covering(held, "a.example.com", NOW) == held[0]
    assert best_covering(held, "a.b.example.com", NOW) is None
    assert best_covering(held, "example.com", NOW) is None


def test_expired_and_unknown_expiry_are_never_chosen() -> None:
    held = [cert(1, "*.example.com", days=-1), cert(2, "a.example.com", days=None)]
    assert best_covering(held, "a.example.com", NOW) is None


def test_warnings_name_expiring_and_expired_certificates_and_a_missing_wildcard() -> None:
    held = [cert(1, "a.test", days=3.5), cert(2, "b.test", days=-2), cert(3, "c.test", days=30)]
    notes = certificate_warnings(held, "apps.test", NOW)
    assert notes[0].startswith("certificate #1 (a.test) expires on 2026-12-11 (in 3 day(s))")
    assert notes[1].startswith("certificate #2 (b.test) expired on 2026-12-05")
    assert notes[2].startswith("no valid certificate in NPM covers *.apps.test")
    assert len(notes) == 3


def test_no_warning_with_a_valid_wildcard_and_nothing_expiring() -> None:
    assert certificate_warnings([cert(1, "*.apps.test", days=15)], "apps.test", NOW) == []
    assert certificate_warnings([], "", NOW) == []  # no domain set yet: nothing to cover
