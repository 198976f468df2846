"""The error model: one clear line per failure, and a kind saying what sort
of failure it is.

Library code raises these; front ends map the kind to their own codes, each
in one table: the CLI to Docker's exit statuses (`jocker/cli/exitcodes.py`),
the API server to HTTP statuses. Messages say what failed, where, and (when
known) how to fix it.
"""

import errno

# The kinds. Strings, so that a kind crosses a pipe or a socket as itself.
ENGINE = "engine"                        # jocker itself failed
INVALID = "invalid"                      # bad flags, arguments or request fields
NOT_FOUND = "not_found"                  # no such image, container, volume...
CONFLICT = "conflict"                    # clashes with the current state (name in use...)
NOT_IMPLEMENTED = "not_implemented"      # a Docker feature jocker does not have (yet)
HOST_FAILURE = "host_failure"            # a host command (zfs, jail, ...) failed
CANNOT_RUN = "cannot_run"                # the container command cannot be invoked
COMMAND_NOT_FOUND = "command_not_found"  # the container command does not exist
BUILD_FAILED = "build_failed"            # a build step failed
INVALID_DOCKERFILE = "invalid_dockerfile"
HOST_NOT_READY = "host_not_ready"        # `system check` found a required check failing
INVALID_TEMPLATE = "invalid_template"    # a --format template that does not parse
TEMPLATE_FAILED = "template_failed"      # a --format template that fails on the data

KINDS = (ENGINE, INVALID, NOT_FOUND, CONFLICT, NOT_IMPLEMENTED, HOST_FAILURE, CANNOT_RUN,
         COMMAND_NOT_FOUND, BUILD_FAILED, INVALID_DOCKERFILE, HOST_NOT_READY, INVALID_TEMPLATE,
         TEMPLATE_FAILED)


class JockerError(Exception):
    """An engine error."""

    kind = ENGINE

    def __init__(self, message: str, *, hint: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(JockerError):
    """Bad flags, arguments or request fields."""

    kind = INVALID


class InvalidName(UsageError):
    """A name, tag or reference that jocker refuses before it reaches the host."""


class NotFound(JockerError):
    """No such image, container, volume..."""

    kind = NOT_FOUND


class Conflict(JockerError):
    """The operation clashes with current state (name in use, image in use...)."""

    kind = CONFLICT


class NotImplementedYet(JockerError):
    """A Docker feature that jocker does not provide (yet)."""

    kind = NOT_IMPLEMENTED


class HostCommandError(JockerError):
    """A host command (zfs, jail, tar...) failed; names the command and its stderr."""

    kind = HOST_FAILURE

    def __init__(self, argv: list[str], returncode: int, stderr: str, *, hint: str | None = None):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        # The real cause, not tar's closing "Exiting with failure status due to previous errors".
        lines = [l for l in self.stderr.splitlines() if l.strip() and "Exiting with failure status" not in l]
        last = lines[-1] if lines else (self.stderr.splitlines() or [f"exit status {returncode}"])[-1]
        super().__init__(f"`{' '.join(self.argv[:4])}{' ...' if len(self.argv) > 4 else ''}` failed: {last}",
                         hint=hint)


class HostCommandTimeout(HostCommandError):
    def __init__(self, argv: list[str], timeout: float):
        super().__init__(argv, -1, f"timed out after {timeout:g}s")


class CannotRun(JockerError):
    """The container command cannot be invoked."""

    kind = CANNOT_RUN


class CommandNotFound(JockerError):
    """The container command does not exist."""

    kind = COMMAND_NOT_FOUND


class BuildError(JockerError):
    """A build failed. status: a failing RUN's own exit status, which the
    build exits with (Docker's classic builder); None for other failures."""

    kind = BUILD_FAILED
    status: int | None = None


# A container that fails to start records Docker's exit status for the cause
# (the runtime reports it the same way: nsinit exits with it). This is the
# container's state, not a front end's code: front ends map kinds themselves.
START_STATUS = {CANNOT_RUN: 126, COMMAND_NOT_FOUND: 127}


def start_status(e: BaseException) -> int:
    """The exit status a container records when its start failed with e."""
    return START_STATUS.get(getattr(e, "kind", ENGINE), 125)


def start_failure(status: int | str, message: str) -> JockerError:
    """The error for a start that failed with the recorded status."""
    kind = next((k for k, v in START_STATUS.items() if str(v) == str(status)), ENGINE)
    return JockerError(message, kind=kind)


# Failures of the storage under a path, as one line with the way out:
# a full pool, or a mount whose daemon went away (zfs-fuse restarted).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOTCONN, errno.EIO, errno.EROFS})


def storage_failure(e: OSError) -> JockerError:
    """The one-line error for an OSError in STORAGE_ERRNOS."""
    import os
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    what = os.strerror(e.errno) if e.errno else str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return JockerError(f"out of space: {what}{where}",
                           hint="free space in the pool (jocker system prune, zfs list -o space) and retry")
    if e.errno in (errno.ENOTCONN, errno.EIO):
        return JockerError(f"the storage under jocker is not reachable: {what}{where}",
                           hint="its mount went stale (zfs-fuse restarted or crashed?): "
                           "run `jocker system prepare` to remount jocker's datasets")
    return JockerError(f"the storage is read-only: {what}{where}", hint="remount it read-write")
