"""Times and durations as a person reads them ("3 min ago", "up 2 h 5 min", "1.2 s")."""

from __future__ import annotations

from datetime import UTC, datetime


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for aware columns; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """A coarse duration: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def took_for(seconds: float) -> str:
    """How long something took: tenths below a minute (`0.8 s`, `12.4 s`), then `span`."""
    return f"{seconds:.1f} s" if seconds < 60 else span(seconds)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - _aware(moment)).total_seconds()
    return "just now" if seconds < 5 else f"{span(seconds)} ago"


def since(moment: datetime | None, now: datetime | None = None) -> str:
    """How long since `moment` (an uptime), or an em dash when unknown."""
    if moment is None:
        return "—"
    return span(((now or datetime.now(UTC)) - _aware(moment)).total_seconds())


def millis(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def clock(moment: datetime) -> str:
    """The local wall-clock time of a UTC moment, for log lines."""
    return _aware(moment).astimezone().strftime("%H:%M:%S")


def stamp(moment: datetime) -> str:
    """The local date and time of a UTC moment, to the second (the audit log)."""
    return _aware(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")
