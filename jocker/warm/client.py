"""The CLI's first code: hand an eligible command to the warm server, else
run it here (the local path, always correct, only slower).

Standard library only and no click: this runs before anything else on every
command, so it must cost a few milliseconds at most (`python3 -X importtime
-m jocker` shows it). Anything uncertain goes local.
"""

from __future__ import annotations

import os
import sys

from .. import rundir as RD
from ..forkbase import PACKAGE_PARENT, current_umask, lock_held, process_context

# Verbs a warm child may run: `run` when it reads no terminal, and two
# read-only listings.
VERBS = ("run", "ps", "images")
# `run` options that attach stdin or a terminal (in any short cluster: -it, -ti, -ai...)
TTY_LONG = ("--interactive", "--tty", "--attach")
TTY_SHORT = "ita"
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
SERVER_GONE = 125
REPLY_TIMEOUT = 30.0
# The environment read once, at interpreter (or C library) start: the
# server's, inherited from the command that started it, is what every child
# has. PYTHONPATH is compared as sys.path; the streams' variables are
# applied per child (the stdio request).
START_ENV = ("LD_", "PYTHON", "MALLOC_", "GLIBC_TUNABLES")
PER_CHILD = ("PYTHONPATH", "PYTHONIOENCODING", "PYTHONUNBUFFERED")
HEADER = 10                 # ASCII digits: a request's length, before it
_SUN_PATH_MAX = 100         # below every platform's sun_path (104 on FreeBSD, 108 on Linux)


def eligible(argv: list[str]) -> bool:
    """argv (without the program) may be run by a warm child. Global options
    before the verb (--config, -D, ...) mean local: only the click parser
    knows them all. For `run`, every argument is looked at, the container's
    command included (`run busybox ls -la` goes local: slower, still right)."""
    if not argv or argv[0] not in VERBS:
        return False
    if argv[0] != "run":
        return True
    for a in argv[1:]:
        if a.startswith("--"):
            if a.split("=", 1)[0] in TTY_LONG:
                return False
        elif a.startswith("-") and any(c in TTY_SHORT for c in a[1:]):
            return False
    return True


def settings() -> tuple[str, float] | None:
    """(rundir, warm_cli_idle) from the one configuration reader, or None
    when it cannot say (the local path then reports the problem)."""
    try:
        from ..config import quick_values
        values = quick_values(("rundir", "warm_cli_idle"))
        return values["rundir"], float(values["warm_cli_idle"])
    except Exception:       # noqa: BLE001 - any doubt: local, which explains it
        return None


def main() -> None:
    """Both entry points: `python -m jocker` (jocker/__main__.py) and the
    `jocker` console script."""
    argv = sys.argv[1:]
    found = settings() if eligible(argv) else None
    if found and found[1] > 0 and os.path.isabs(found[0]):
        rundir, idle = found
        code = Client(rundir).run(argv)
        if code is not None:
            _exit_like(code)
        if not lock_held(RD.path(rundir, RD.WARM_CLI_LOCK)):
            import atexit
            # after the command (atexit runs on the CLI's fast exit too)
            atexit.register(start_server, rundir, idle)
    from ..cli import entry as local
    local()


def start_server(rundir: str, idle: float) -> None:
    from ..forkbase import env_with_package_first, spawn_detached
    spawn_detached([sys.executable, "-c", "from jocker.warm.server import main; main()", rundir,
                    str(idle)], env_with_package_first())


class Client:
    def __init__(self, rundir: str):
        self.rundir = rundir
        self.sock = None
        self.sent = self.started = False
        self.pending: list[int] = []        # caught before the request was sent
        self.early: list[int] = []          # forwarded before the server said it started the command

    def run(self, argv: list[str]) -> int | None:
        """The child's exit status (negative: killed by that signal), or None
        when the command was not started and must run here."""
        # _socket, not socket: socket.py costs ~2 ms more to import (its
        # enums, selectors, array), a tenth of what the warm CLI saves.
        import _socket
        try:
            cwd = os.getcwd()
            data = frame(_request(argv, cwd))
            self.sock = s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            s.settimeout(5)
            _connect(s, self.rundir, cwd)
        except (OSError, ValueError):
            self._close()
            return None
        old = self._catch_signals()
        try:
            try:
                fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))  # int[3]
                sent = s.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
                if sent < len(data):            # a big environment may take more than one
                    s.sendall(data[sent:])      # (never an empty send: the peer may be done, EPIPE)
            except OSError:
                return None     # not all sent: the server starts nothing
            self.sent = True
            # The answer comes at once; a server that gives none (stopped?)
            # may still fork later, so running the command here could run
            # it twice: say so and exit 125 instead.
            s.settimeout(REPLY_TIMEOUT)
            reply = _Lines(s)
            first = reply.next()
            s.settimeout(None)  # the command runs as long as it runs
            if first is not None and first.startswith(b"exit "):
                # The child's own report, ahead of its server's `pid` (the
                # server was preempted): the command ran, and is over.
                return int(first.split()[1])
            if first is None or not first.startswith(b"pid "):
                self.pending += self.early      # nothing started them: they are this process's again
                return None if first is not None else self._gone()
            self.started = True
            for sig in self.pending:
                self._forward(sig)
            self.pending = []
            last = reply.next()
            if last is None or not last.startswith(b"exit "):
                return self._gone()
            return int(last.split()[1])
        finally:
            self._restore(old)
            self._close()

    def _catch_signals(self) -> dict:
        import _signal      # not signal: its enums cost most of a millisecond
        old = {}
        for name in FORWARDED:
            num = getattr(_signal, name, None)
            if num is not None:
                try:
                    old[num] = _signal.signal(num, self._on_signal)
                except (OSError, ValueError):
                    pass
        return old

    def _restore(self, old: dict) -> None:
        """Back to what it was; a signal caught before the server took the
        command is delivered again, now to this process, which then behaves
        as it would have (a SIGTERM ends it)."""
        import _signal
        for num, handler in old.items():
            _signal.signal(num, handler)
        for sig in self.pending:
            os.kill(os.getpid(), sig)

    def _on_signal(self, sig, _frame) -> None:
        if self.sent:
            self._forward(sig)
            if not self.started:
                self.early.append(sig)
        else:
            self.pending.append(sig)

    def _forward(self, sig: int) -> None:
        try:
            self.sock.sendall(b"sig %d\n" % sig)
        except OSError:
            pass            # the server is gone: the reply loop says so

    def _gone(self) -> int:
        sys.stderr.write("jocker: the warm CLI server went away while running this command; "
                         "its outcome is unknown (check `jocker ps -a`)\n")
        return SERVER_GONE

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Lines:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def next(self) -> bytes | None:
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(256)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def _connect(s, rundir: str, cwd: str) -> None:
    path = RD.path(rundir, RD.WARM_CLI_SOCK)
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        s.connect(path)
        return
    os.chdir(rundir)        # a deep run dir: connect by the short name (single-threaded here)
    try:
        s.connect(RD.WARM_CLI_SOCK)
    finally:
        os.chdir(cwd)


def identity() -> dict:
    """What must be equal for the server's imports to be the ones this
    command would make: the interpreter, this jocker, the import path, the
    file-name encoding chosen at start-up and the environment read there
    (LD_PRELOAD, PYTHONMALLOC...). Of the path, the first entry
    (the script's directory, or the cwd with -m: different by nature) and
    jocker's own parent (the server has it first on PYTHONPATH, however the
    client found it) are left out."""
    return {"exe": sys.executable, "pkg": PACKAGE_PARENT,
            "path": [p for p in sys.path[1:] if p != PACKAGE_PARENT], "fsenc": sys.getfilesystemencoding(),
            "start": {k: v for k, v in os.environ.items() if k.startswith(START_ENV) and k not in PER_CHILD}}


def frame(request: bytes) -> bytes:
    """A request as it travels (client to server, server to its spare):
    its length in HEADER ASCII digits, then the marshal'd dict."""
    return b"%0*d" % (HEADER, len(request)) + request


def _request(argv: list[str], cwd: str) -> bytes:
    import marshal
    # the streams as this interpreter made them (PYTHONIOENCODING, -u, a terminal...)
    stdio = [None if f is None else (f.encoding, f.errors, f.line_buffering, f.write_through)
             for f in (sys.stdin, sys.stdout, sys.stderr)]
    # sys.path[0]: where this interpreter looks first (the console script's
    # directory, the cwd with -m, none with -P); the child looks there too
    path0 = sys.path[0] if sys.path and not getattr(sys.flags, "safe_path", False) else None
    return marshal.dumps({"argv": [sys.argv[0], *argv], "env": dict(os.environ), "cwd": cwd,
                          "umask": current_umask(), "context": process_context(),
                          "identity": identity(), "stdio": stdio, "path0": path0})


def _exit_like(code: int) -> None:
    """Exit as the child did: with its code, or killed by its signal."""
    if code < 0:
        import _signal
        sig = -code
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass                        # SIGKILL, SIGSTOP: no handler to reset
        try:
            os.kill(os.getpid(), sig)
        except OSError:
            pass
        os._exit(128 + sig)
    os._exit(code)
