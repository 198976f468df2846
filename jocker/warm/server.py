"""The warm CLI's server: single-threaded, it has imported click and what
`jocker run` needs, and forks one child per command (see __init__.py for
the protocol). It reaps its children and tells each client its child's
exit status; it forwards the client's signals. It is not a daemon holding
state: a child is a fresh CLI process that only shares pre-imported code.

A spare child, forked while nothing runs, waits for the next command on
a socket pair: the fork of the 25 MB server (~2 ms, more under load) leaves
the command's critical path. It is made only when no command runs (so its
fork never competes with one), and a command finding none is forked as
before.

One per run directory (`warmcli.lock`, its pid written in it). It exits
after `warm_cli_idle` seconds with no command and no child, and stops
taking commands (finishing the running ones first) when its socket file is
removed or replaced, a jocker module it loaded changed on disk, or a
command came from another interpreter, checkout or import path.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import socket
import sys
import time

from .. import rundir as RD
from ..forkbase import ForkServerBase, close_fd, open_fds, peer_refusal, process_context
from .client import HEADER, frame, identity

MAX_CHILDREN = 256          # then new commands go local: select() stays far below FD_SETSIZE
REQUEST_MAX = 4 << 20       # argv and environment
# What `run` imports (python3 -X importtime -m jocker run --rm busybox true,
# on a bridge and with --network none), and the listings' CLI modules.
PRELOAD = ("jocker.cli.main", "jocker.cli.containers", "jocker.cli.images", "jocker.engine",
           "jocker.engine_api", "jocker.engine_api.containers", "jocker.containers.lifecycle",
           "jocker.containers.create", "jocker.containers.remove", "jocker.containers.forkserver",
           "jocker.containers.attach", "jocker.containers.detachkeys", "jocker.distribution.auth",
           "jocker.images.store", "jocker.storage.zfs_cli", "jocker.net.networks",
           "logging", "hashlib", "base64", "textwrap", "resource", "locale", "ctypes")
SPARE_COMM = "jocker-spare"  # an idle spare child's name in ps(1) (Linux)
# what a fresh interpreter has: Python ignores SIGPIPE and SIGXFSZ at start-up
_PY_IGNORED = ("SIGPIPE", "SIGXFSZ")


class Server(ForkServerBase):
    def __init__(self, rundir: str, idle: float):
        # The engine makes the run directory; a server started after a
        # command that never got that far (`run --help`) has nothing to do.
        super().__init__(rundir, RD.WARM_CLI_LOCK, RD.WARM_CLI_SOCK, make_dir=False)
        self.idle = idle
        self.identity = identity()
        self.children: dict[int, socket.socket | None] = {}     # pid -> its client's connection
        self.clients: dict[socket.socket, tuple[int, bytearray]] = {}
        self.wake_r = self.wake_w = -1
        self.spare: tuple[int, socket.socket] | None = None    # its pid, our end of its socket pair

    def preload(self) -> None:
        import importlib
        for name in PRELOAD:
            importlib.import_module(name)
        # the host's drivers (the engine picks them per command, by setting)
        native = ("jocker.runtime.freebsd_jail", "jocker.net.freebsd") \
            if sys.platform.startswith("freebsd") else ("jocker.runtime.linux_ns", "jocker.net.linux")
        for name in native:
            importlib.import_module(name)
        self.remember_loaded()
        import gc
        gc.collect()
        gc.freeze()         # the children's collector never touches (copies) these pages

    # -- the loop --
    def serve(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # SIGCHLD wakes select through a pipe (portable: no pidfd)
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        last = time.monotonic()
        while True:
            if self.spare is None and not self.children and self.listener is not None:
                self._make_spare()
            watched = [self.wake_r, *self.clients]
            if self.listener is not None:
                watched.append(self.listener)
            ready, _, _ = select.select(watched, [], [], 1.0)
            self.reap()
            for r in ready:
                if r is self.listener:
                    last = time.monotonic()
                    self.accept()
                elif r == self.wake_r:
                    _drain(self.wake_r)
                elif r in self.clients:         # not just reported and closed by reap()
                    self.from_client(r)
            if not ready and self.listener is not None and self.stale():
                self.stop_listening()
            if self.children:
                last = time.monotonic()
            elif self.listener is None:
                return
            elif time.monotonic() - last > self.idle:
                self.stop_listening()
                return

    def stop_listening(self) -> None:
        """No new commands; the running ones are finished (and reported).
        Clients already connected (in the listen backlog) are told to run
        locally: closed unanswered, they would report an unknown outcome
        and 125 for a command that never ran."""
        self.unlink_socket()
        self.listener.setblocking(False)
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                break
            try:
                conn.sendall(b"fallback stopping\n")
            except OSError:
                pass
            conn.close()
        self.listener.close()
        self.listener = None

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            conn.settimeout(5)
            req, rest, fds = _read_request(conn)
            refusal = self._refusal(conn, req, fds)
            if refusal:
                conn.sendall(f"fallback {refusal}\n".encode())
                if refusal in ("stale", "other-jocker"):
                    # old code, or a run directory now used by another
                    # interpreter or checkout: make way for a server of its own
                    self.stop_listening()
                conn.close()
                return
            if _hung_up(conn):
                conn.close()        # the client gave up waiting (and said so): nobody's command
                return
            pid = self._hand_to_spare(conn, fds, req)
            if not pid:
                pid = os.fork()
                if pid == 0:
                    self._child(conn, fds, req)     # never returns
            self.children[pid] = conn
            self.clients[conn] = (pid, bytearray(rest))
            conn.sendall(b"pid %d\n" % pid)
            self._signals(conn)                     # any sent with the request
        except (OSError, ValueError, EOFError, TypeError):
            if conn not in self.clients:
                conn.close()                        # a client that went away or sent garbage
        finally:
            for fd in fds:
                close_fd(fd)                        # the child has them: a pipe's reader sees EOF with it

    def _refusal(self, conn: socket.socket, req, fds: list[int]) -> str:
        if not isinstance(req, dict) or len(fds) != 3 or not isinstance(req.get("argv"), list):
            return "bad-request"
        peer = peer_refusal(conn)
        if peer:
            return peer
        if len(self.children) >= MAX_CHILDREN:
            return "busy"
        if req.get("identity") != self.identity:
            return "other-jocker"       # another interpreter, checkout or import path
        if req.get("context") != process_context():
            return "other-context"      # other limits, nice or cgroup: the child would get ours
        if self.code_changed():
            return "stale"
        return ""

    def from_client(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            # The client is gone (killed?): its command goes on, as a CLI
            # whose terminal went away would; nobody waits for the status.
            pid, _ = self.clients.pop(conn)
            if pid in self.children:
                self.children[pid] = None
            conn.close()
            return
        self.clients[conn][1].extend(data)
        self._signals(conn)

    def _signals(self, conn: socket.socket) -> None:
        pid, buf = self.clients[conn]
        while b"\n" in buf:
            i = buf.index(b"\n")
            words = bytes(buf[:i]).split()
            del buf[:i + 1]
            if len(words) == 2 and words[0] == b"sig" and words[1].isdigit() and pid in self.children:
                try:
                    os.kill(pid, int(words[1]))     # not reaped yet: still our child's pid
                except (OSError, ValueError):
                    pass

    def reap(self) -> None:
        while self.children or self.spare is not None:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare[0]:
                self.spare[1].close()               # it died waiting (killed?): another is made
                self.spare = None
                continue
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            self.clients.pop(conn, None)
            try:
                conn.sendall(b"exit %d\n" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass
            conn.close()

    # -- the spare child --
    def _make_spare(self) -> None:
        try:
            ours, theirs = socket.socketpair()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return
        if pid == 0:
            close_fd(ours.detach())                 # by number: holding it, the spare never sees EOF
            self._spare_wait(theirs)                # never returns
        theirs.close()
        ours.settimeout(5)
        self.spare = (pid, ours)

    def _spare_wait(self, sock: socket.socket) -> None:
        """The spare's life: nothing of the server's kept but the code (its
        listener, lock, wake-up pipe and clients' connections closed now,
        their objects detached so no number reused later is closed by
        them), then one command, or EOF (the server is gone) and exit."""
        try:
            self._shed_server()
            keep = {0, 1, 2, sock.fileno()}
            for fd in open_fds():
                if fd not in keep:
                    close_fd(fd)
            name = _set_comm(SPARE_COMM)             # what ps(1) shows while it waits
            got = False
            req, _, fds = _read_request(sock, 4)
            if len(fds) != 4:
                raise EOFError
            got = True
            sock.close()
            _set_comm(name)
            conn = socket.socket(fileno=fds[0])
        except BaseException:                       # noqa: BLE001 - EOF, garbage: nobody's command
            # (never back into the server's loop) A whole command that could
            # not be started is an engine error for its client, whose status
            # the server reports from ours: not a success.
            os._exit(125 if got else 0)
        self._child(conn, fds[1:], req)             # never returns

    def _hand_to_spare(self, conn: socket.socket, fds: list[int], req: dict) -> int:
        """The spare's pid once it has the command (the client's connection,
        its descriptors and the request), else 0: fork one."""
        if self.spare is None:
            return 0
        pid, sock = self.spare
        self.spare = None
        data = frame(marshal.dumps(req))
        try:
            sent = socket.send_fds(sock, [data], [conn.fileno(), *fds])
            if sent < len(data):
                # (never an empty send: the spare, done reading, may have
                # closed its end, and that EPIPE would run the command twice)
                sock.sendall(data[sent:])
        except OSError:
            # Nothing sent, or part of it: a spare that died, or one that
            # cannot parse a partial request, runs nothing. The usual fork.
            pid = 0
        sock.close()
        return pid

    # -- the child --
    def _child(self, conn: socket.socket, fds: list[int], req: dict) -> None:
        code, report = 125, None
        try:
            report = self._become_fresh(conn, fds, req)
            if req["argv"][1:2] == ["run"]:
                from .. import engine
                engine.begin_early_read()       # the store read overlaps click's parsing
            from .. import cli
            # The status goes straight to the client, not through the
            # server's reaping: one wake-up less on every command. The
            # server's own report after reaping is then a duplicate nobody
            # reads; a death by signal only the server can report.
            cli.before_exit = lambda c: _report(report, c)
            cli.entry()
            code = 0
        except SystemExit as e:
            code = _exit_code(e.code)
        except BaseException:                   # what an uncaught exception does: traceback, 1
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            _finish(code, report)

    def _shed_server(self) -> None:
        """In a forked child (a spare, a command): none of the server's
        descriptors or state (listener, lock, wake-up pipe, clients'
        connections, a spare's socket). Closed by number, not only by the
        descriptor sweep, which on FreeBSD without fdescfs sees only 0-2;
        the objects are detached first, so no number reused later is
        closed by them."""
        signal.set_wakeup_fd(-1)
        self.forget()
        close_fd(self.wake_r)
        close_fd(self.wake_w)
        self.wake_r = self.wake_w = -1
        for c in self.clients:
            close_fd(c.detach())
        if self.spare is not None:
            close_fd(self.spare[1].detach())
        self.clients, self.children, self.spare = {}, {}, None

    def _become_fresh(self, conn: socket.socket, fds: list[int], req: dict) -> int:
        """Everything a freshly started `jocker` would have from its caller;
        nothing of the server's (descriptors, handlers, environment)."""
        signal.set_wakeup_fd(-1)
        for name in ("SIGTERM", "SIGHUP", "SIGCHLD", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for name in _PY_IGNORED:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        self._shed_server()
        report = conn.detach()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)                 # inheritable, as 0, 1, 2 are
        for fd in fds:
            if fd > 2 and fd != report:
                close_fd(fd)
        keep = {0, 1, 2, report}
        for fd in open_fds():
            if fd not in keep:
                close_fd(fd)
        os.environ.clear()
        os.environ.update(req["env"])
        time.tzset()                            # TZ was read when the server started
        try:
            import locale
            locale.setlocale(locale.LC_CTYPE, "")   # as the interpreter does at start-up
        except Exception:       # noqa: BLE001 - an unknown locale: the server's stays
            pass
        os.chdir(req["cwd"])
        os.umask(req["umask"])
        _first_path(req.get("path0"))
        sys.argv = list(req["argv"])
        sys.stdin, sys.stdout, sys.stderr = _streams(req.get("stdio") or [])
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        return report


def _set_comm(name: str | None) -> str | None:
    """Rename this process as ps(1) shows it; the old name (None where
    /proc/self/comm does not exist: FreeBSD keeps its name)."""
    if not name:
        return None
    try:
        with open("/proc/self/comm", "r+") as f:
            old = f.read().strip()
            f.seek(0)
            f.write(name)
        return old
    except OSError:
        return None


def _first_path(path0) -> None:
    """sys.path[0] as the client's: the server's is '' (it runs with -c),
    which after the chdir would be the caller's cwd, so a lazily imported
    module (difflib, ssl...) planted there would run as root where the
    console script's local path never looks."""
    if sys.path and sys.path[0] in ("", "."):
        del sys.path[0]
    if isinstance(path0, str) and path0:
        sys.path.insert(0, path0)


def _hung_up(conn: socket.socket) -> bool:
    """The client closed its end (EOF waiting behind what it sent)."""
    try:
        if not select.select([conn], [], [], 0)[0]:
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _read_request(conn: socket.socket, max_fds: int = 3) -> tuple[object, bytes, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 65536, max_fds)
    while len(data) < HEADER:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError
        data += chunk
    size = int(data[:HEADER])
    if size > REQUEST_MAX:
        raise ValueError("request too large")
    while len(data) < HEADER + size:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError
        data += chunk
    return marshal.loads(data[HEADER:HEADER + size]), data[HEADER + size:], fds


def _streams(stdio: list) -> tuple:
    """New sys.stdin/stdout/stderr on descriptors 0, 1, 2, made as the
    client's interpreter made its own: encoding, errors, line buffering
    (stdout on a terminal, stderr always), write-through (-u)."""
    import io
    out = []
    for fd, mode in ((0, "r"), (1, "w"), (2, "w")):
        got = stdio[fd] if fd < len(stdio) else None
        if got is None:
            out.append(None)            # the client had none (fd closed at its start)
            continue
        enc, errors, line, through = got
        try:
            raw = io.open(fd, mode + "b", buffering=0 if through and mode == "w" else -1, closefd=False)
        except OSError:
            out.append(None)
            continue
        out.append(io.TextIOWrapper(raw, encoding=enc, errors=errors, line_buffering=line,
                                    write_through=through))
    return tuple(out)


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except (OSError, ValueError):
        pass
    return 1


def _report(fd: int, code: int) -> None:
    try:
        os.write(fd, b"exit %d\n" % code)
    except OSError:
        pass            # the client is gone; the command was done anyway


def _finish(code: int, report: int | None) -> None:
    """The interpreter's own way out, without tearing it down: threads
    joined, atexit handlers run, streams flushed."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        if report is not None:
            _report(report, code)
        os._exit(code)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except OSError:
        pass


def main() -> None:
    Server(sys.argv[1], float(sys.argv[2])).run()


if __name__ == "__main__":
    main()
