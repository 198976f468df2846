"""The one door to the host: every host command jocker runs goes through here.

It logs each command, applies a timeout, counts commands (benchmarks read the
trace), retries commands that only failed because a dataset was briefly busy,
and turns a failure into a HostCommandError naming the command and its stderr.
Arguments are always lists; nothing is ever run through a shell.
"""

from __future__ import annotations

import os
import sys
import time

from . import process
from ..errors import HostCommandError, HostCommandTimeout, JockerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

DEFAULT_TIMEOUT = 300.0
# "busy" answers from zfs clear up within ~0.1 s (a fresh dataset on zfs-fuse,
# a jail's processes still dying on FreeBSD); the first retry usually works
# after a few milliseconds, so start small and back off up to ~3 s in total.
BUSY_MARKERS = ("dataset is busy", "Device busy", "Resource busy", "pool or dataset is busy")
BUSY_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5)


class Result:
    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr


def debug(logger: str, fmt: str, *args) -> None:
    """Log through logging only where the CLI set it up: the supervisor stays
    small by never importing it (see the supervisor RSS benchmark)."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(logger).debug(fmt, *args)


class Pending:
    """A host command begun by Runner.begin()."""
    __slots__ = ("argv", "proc", "started")

    def __init__(self, argv: list[str], proc: "process.Process", started: float):
        self.argv, self.proc, self.started = argv, proc, started


def _debug(fmt: str, *args) -> None:
    debug("jocker.host.runner", fmt, *args)


def _trace(argv, seconds: float) -> None:
    path = os.environ.get("JOCKER_TRACE")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{seconds:.4f}\t{' '.join(argv)}\n")


class Runner:
    """Runs host commands. One instance per engine; tests may subclass it."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.count = 0

    def _check_argv(self, argv) -> list[str]:
        if isinstance(argv, (str, bytes)) or not argv:
            raise JockerError("internal error: host commands take a non-empty argument list")
        return [os.fspath(a) for a in argv]

    def run(self, argv, *, input: bytes | str | None = None,
            stdin=None, stdout=None,
            timeout: float | None = None, check: bool = True,
            env: dict[str, str] | None = None, cwd: str | None = None,
            retry_busy: bool = False, hint: str | None = None) -> Result:
        """Run argv to completion and return its output.

        stdout, when given, is a file object that receives the raw output
        (zfs send); otherwise output is captured and decoded.
        """
        argv = self._check_argv(argv)
        delays = list(BUSY_DELAYS) if retry_busy else []
        while True:
            res = self._run_once(argv, input, stdin, stdout, timeout, env, cwd)
            if res.returncode != 0 and delays and any(m in res.stderr for m in BUSY_MARKERS):
                time.sleep(delays.pop(0))
                continue
            break
        if check and res.returncode != 0:
            raise HostCommandError(argv, res.returncode, res.stderr, hint=hint)
        return res

    def _run_once(self, argv, input, stdin, stdout, timeout, env, cwd) -> Result:
        if isinstance(input, str):
            input = input.encode()
        pending = self._begin(argv, input, stdin, stdout, env, cwd)
        return self._finish(pending, input, timeout)

    def begin(self, argv, *, env: dict[str, str] | None = None) -> "Pending":
        """run() in two halves: argv started now (output captured), its
        Result taken later by finish(), so a read can overlap other work.
        A Pending never finished must be given to abandon(). Its output
        pipe is widened where the system allows (Linux: 1 MB): nobody reads
        it until finish(), and a full 64 KB pipe would stop the command
        half way (a store read prints ~100-250 KB)."""
        pending = self._begin(self._check_argv(argv), None, None, None, env, None)
        process.widen_pipe(pending.proc.stdout)
        return pending

    def finish(self, pending: "Pending", *, timeout: float | None = None, check: bool = True,
               hint: str | None = None) -> Result:
        res = self._finish(pending, None, timeout)
        if check and res.returncode != 0:
            raise HostCommandError(res.argv, res.returncode, res.stderr, hint=hint)
        return res

    def abandon(self, pending: "Pending") -> None:
        """A begun command whose output nobody wants: killed and reaped."""
        proc = pending.proc
        process.kill_group(proc.pid)
        proc.wait()
        for fd in (proc.stdout, proc.stderr):
            if fd is not None:
                os.close(fd)
        _trace(pending.argv, time.monotonic() - pending.started)

    def _begin(self, argv, input, stdin, stdout, env, cwd) -> "Pending":
        self.count += 1
        _debug("run: %s", " ".join(argv))
        begin = time.monotonic()
        try:
            proc = process.start(
                argv, env=env, cwd=cwd,
                stdin=process.PIPE if input is not None else (stdin.fileno() if stdin is not None else None),
                stdout=stdout.fileno() if stdout is not None else process.PIPE,
                stderr=process.PIPE, child_setup=process.die_with_parent)
        except FileNotFoundError:
            _trace(argv, time.monotonic() - begin)
            raise HostCommandError(argv, 127, f"{argv[0]}: command not found",
                                   hint=f"install {argv[0]} or check PATH")
        except BaseException:
            _trace(argv, time.monotonic() - begin)
            raise
        return Pending(argv, proc, begin)

    def _finish(self, pending: "Pending", input, timeout) -> Result:
        timeout = self.timeout if timeout is None else timeout
        argv, proc = pending.argv, pending.proc
        try:
            out, err, timed_out = process.communicate(proc, input, timeout)
            if timed_out:
                raise HostCommandTimeout(argv, timeout)
            code = proc.wait()
        finally:
            _trace(argv, time.monotonic() - pending.started)
        text = out.decode("utf-8", "replace")
        errtext = err.decode("utf-8", "replace")
        if code != 0:
            _debug("exit %d: %s", code, errtext.strip())
        return Result(argv, code, text, errtext)

    def start(self, argv, **kwargs) -> "process.Process":
        """Start a long-lived host process without the subprocess module (the
        supervisor's container): see jocker/host/process.py for the arguments."""
        argv = self._check_argv(argv)
        self.count += 1
        _debug("start: %s", " ".join(argv))
        _trace(argv if kwargs.get("child_main") is None else ["(in a forked child)", *argv], 0.0)
        try:
            return process.start(argv, **kwargs)
        except FileNotFoundError:
            raise HostCommandError(argv, 127, f"{argv[0]}: command not found",
                                   hint=f"install {argv[0]} or check PATH")

    def spawn(self, argv, **popen_kwargs) -> "subprocess.Popen":
        """Start a long-lived host process (a container's main process, a daemon).

        The caller owns the process; it is counted and logged like any other.
        """
        argv = self._check_argv(argv)
        self.count += 1
        _debug("spawn: %s", " ".join(argv))
        _trace(argv, 0.0)
        import subprocess
        try:
            return subprocess.Popen(argv, **popen_kwargs)
        except FileNotFoundError:
            raise HostCommandError(argv, 127, f"{argv[0]}: command not found",
                                   hint=f"install {argv[0]} or check PATH")


_default: Runner | None = None


def default_runner() -> Runner:
    global _default
    if _default is None:
        _default = Runner()
    return _default
