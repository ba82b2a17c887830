"""Domain errors: a small hierarchy the entry points map to HTTP status codes and exit codes."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused by a rule of the domain; the message says which."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, details: object = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidInput(DomainError):
    """The facts given do not fit the clause or the year (→ 422)."""

    code = "invalid"


class NotFound(DomainError):
    """No such year, district, finding, dispute, meeting, report or task (→ 404)."""

    code = "not_found"


class Conflict(DomainError):
    """The command does not fit the current state: closed year, resolved dispute ... (→ 409)."""

    code = "conflict"


class Forbidden(DomainError):
    """The actor's role or scope does not allow the command (→ 403)."""

    code = "forbidden"


class Unavailable(DomainError):
    """The store refused a write it should take (disk full, read-only): nothing was recorded (→ 503)."""

    code = "unavailable"


class TooLarge(InvalidInput):
    """An uploaded file is larger than the limit (→ 413)."""

    code = "too_large"


class UnsupportedType(InvalidInput):
    """An uploaded file is of a type not accepted as evidence, judged by its content (→ 415)."""

    code = "unsupported_media_type"


class DisputeWindowClosed(Conflict):
    """The finding's dispute window (申诉期) has ended (→ 409)."""

    code = "dispute_window_closed"


class PublicationRunning(Conflict):
    """The year's 公示 has not ended yet (→ 409)."""

    code = "publication_running"
