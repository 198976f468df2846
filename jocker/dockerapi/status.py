"""The one table from error kinds (jocker/errors.py) to Docker's HTTP
statuses, and the errors only the server raises. Docker answers every
failure as JSON `{"message": ...}` with `Content-Type: application/json`."""

from __future__ import annotations

from .. import errors as E

TOO_LARGE = "too_large"                    # a request body over the limit
NO_SWARM = "no_swarm"                      # swarm endpoints on a node outside a swarm


class NotModified(Exception):
    """304: already started / already stopped (Docker answers with no body)."""


class TooLarge(E.UsageError):
    kind = TOO_LARGE


class NotSwarmManager(E.JockerError):
    """Swarm endpoints on a node outside a swarm (and swarm/leave): 503, as dockerd."""

    kind = NO_SWARM


class PageNotFound(E.NotFound):
    """No such endpoint."""


Unsupported = E.NotImplementedYet

STATUS_BY_KIND: dict[str, int] = {
    E.INVALID: 400,
    E.INVALID_DOCKERFILE: 400,
    E.INVALID_TEMPLATE: 400,
    E.TEMPLATE_FAILED: 400,
    E.NOT_FOUND: 404,
    E.CONFLICT: 409,
    TOO_LARGE: 413,
    E.NOT_IMPLEMENTED: 501,
    NO_SWARM: 503,
    E.ENGINE: 500,
    E.HOST_FAILURE: 500,
    E.CANNOT_RUN: 500,
    E.COMMAND_NOT_FOUND: 500,
    E.BUILD_FAILED: 500,
    E.HOST_NOT_READY: 500,
}


def status_for(err: BaseException) -> int:
    return STATUS_BY_KIND.get(getattr(err, "kind", E.ENGINE), 500) if isinstance(err, E.JockerError) else 500


def message_for(err: BaseException) -> str:
    if isinstance(err, E.JockerError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"
