"""The one table from error kinds to Docker's exit statuses.

Docker's CLI exits 1 when the daemon refuses (no such object, conflict) and
125 when the engine fails or the flags are bad; `run` and `create` exit 125
for every failure of the engine itself, and 126/127 when the container's
command cannot be invoked or does not exist.
"""

from __future__ import annotations

from .. import errors as E

# kind: (most commands, run/create)
EXIT_CODES: dict[str, tuple[int, int]] = {
    E.ENGINE: (125, 125),
    E.INVALID: (125, 125),
    E.NOT_FOUND: (1, 125),
    E.CONFLICT: (1, 125),
    E.NOT_IMPLEMENTED: (125, 125),
    E.HOST_FAILURE: (125, 125),
    E.CANNOT_RUN: (126, 126),
    E.COMMAND_NOT_FOUND: (127, 127),
    E.BUILD_FAILED: (1, 125),
    E.INVALID_DOCKERFILE: (1, 125),
    E.HOST_NOT_READY: (1, 125),
    E.INVALID_TEMPLATE: (64, 125),      # docker inspect: "template parsing error", 64
    E.TEMPLATE_FAILED: (1, 125),        # a template that fails on the data
}

RUN_COMMANDS = ("run", "create")


def exit_code(kind: str, command: str | None = None) -> int:
    codes = EXIT_CODES.get(kind, EXIT_CODES[E.ENGINE])
    return codes[1] if command in RUN_COMMANDS else codes[0]
