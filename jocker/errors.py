"""The error model: one clear line per failure and Docker's exit codes.

Library code raises these; only the CLI layer turns them into an exit code.
Messages say what failed, where, and (when known) how to fix it.
"""


class JockerError(Exception):
    """An engine error. Docker exits 125 for errors of the engine itself."""

    exit_code = 125

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(JockerError):
    """Bad flags or arguments."""


class InvalidName(UsageError):
    """A name, tag or reference that jocker refuses before it reaches the host."""


class NotFound(JockerError):
    """No such image, container, volume... Docker exits 1 for these in rmi/inspect."""

    exit_code = 1


class Conflict(JockerError):
    """The operation clashes with current state (name in use, image in use...).
    Docker's CLI exits 1 for these daemon-side refusals (run/create use 125)."""

    exit_code = 1


class HostCommandError(JockerError):
    """A host command (zfs, jail, tar...) failed; names the command and its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, *, hint: str | None = None):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        last = self.stderr.splitlines()[-1] if self.stderr else f"exit status {returncode}"
        super().__init__(f"`{' '.join(self.argv[:4])}{' ...' if len(self.argv) > 4 else ''}` failed: {last}",
                         hint=hint)


class HostCommandTimeout(HostCommandError):
    def __init__(self, argv: list[str], timeout: float):
        super().__init__(argv, -1, f"timed out after {timeout:g}s")


class CannotRun(JockerError):
    """The container command cannot be invoked (Docker: 126)."""

    exit_code = 126


class CommandNotFound(JockerError):
    """The container command does not exist (Docker: 127)."""

    exit_code = 127


class BuildError(JockerError):
    """A build failed; for a failing RUN the exit code is the build's own 1."""

    exit_code = 1
