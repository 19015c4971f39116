"""Our own error vocabulary: adapters translate third-party exceptions into these at the boundary.

Every message is written for a person reading the UI or a deploy log, and never contains a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


class WatcherError(Exception):
    """Base of every error the product raises on purpose."""


class CannotConnect(WatcherError):
    """An outside system (Docker, a registry, NPM, a provider) could not be reached."""


class WrongService(CannotConnect):
    """Something answered, but not the API we expected (a wrong port or path)."""


class TlsProblem(CannotConnect):
    """The TLS handshake failed: an untrusted or mismatched certificate, or no TLS at all."""


class InvalidAuth(WatcherError):
    """Credentials were refused by an outside system."""


class Timeout(WatcherError):
    """An outside system did not answer in time."""


class NotFound(WatcherError):
    """A thing we asked for does not exist."""


class Forbidden(WatcherError):
    """A signed-in person's role does not allow this; the message names the role needed."""


class Conflict(WatcherError):
    """The change clashes with existing state (a taken name, a subdomain in use, ...)."""


class RateLimited(WatcherError):
    """An outside system asked us to slow down; `retry_after` is in seconds when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(WatcherError):
    """An outside system answered with an error we cannot map to anything more precise."""


class CryptoError(WatcherError):
    """A secret could not be decrypted: wrong ENCRYPTION_KEY or tampered data."""


class ShuttingDown(WatcherError):
    """Docker Watcher is stopping: the work was stopped, or is refused, for that reason."""


class ConfigError(WatcherError):
    """The process configuration (environment variables, the seed file) is unusable."""


@dataclass(frozen=True)
class FieldError:
    """One invalid input field: `path` is dotted (`projects.web.stages.dev.max_instances`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationFailed(WatcherError):
    """Input from outside was rejected; carries every problem found, each naming its field."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, path: str, message: str) -> ValidationFailed:
        """Shortcut for the common case of one bad field."""
        return cls(FieldError(path, message))
