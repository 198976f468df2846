"""The one table from error kinds to Docker's HTTP statuses, and the errors
only the server raises. Docker answers every failure as JSON
`{"message": ...}` with `Content-Type: application/json`."""

from __future__ import annotations

from .. import errors as E


class NotModified(Exception):
    """304: already started / already stopped (Docker answers with no body)."""


class Unsupported(E.JockerError):
    """An endpoint jocker does not implement (yet): 501."""


class TooLarge(E.UsageError):
    """A request body over the server's limit: 413."""


class NotSwarmManager(E.JockerError):
    """Swarm endpoints on a node outside a swarm (and swarm/leave): 503, as dockerd."""


class PageNotFound(E.NotFound):
    """No such endpoint."""


# Most specific first: the first class the error is an instance of wins.
STATUS_BY_KIND: tuple[tuple[type, int], ...] = (
    (TooLarge, 413),
    (NotSwarmManager, 503),
    (Unsupported, 501),
    (E.NotFound, 404),
    (E.Conflict, 409),
    (E.UsageError, 400),          # InvalidName too
    (E.CannotRun, 500),
    (E.CommandNotFound, 500),
    (E.JockerError, 500),
)


def status_for(err: BaseException) -> int:
    for kind, status in STATUS_BY_KIND:
        if isinstance(err, kind):
            return status
    return 500


def message_for(err: BaseException) -> str:
    if isinstance(err, E.JockerError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"
