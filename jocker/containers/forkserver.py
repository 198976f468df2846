"""The fork-server: a warm process that forks supervisors, so starting a
container does not start a Python interpreter (podman has conmon, a C
program; our supervisor is Python, and an interpreter start plus the
supervisor's imports cost tens of milliseconds on every `run`).

One per run directory: `<rundir>/forkserver.sock` (mode 0600, in the
engine's root-only run directory) and `<rundir>/forkserver.lock`, held with
flock(2) for the server's whole life. The first `start`/`run` that finds no
server falls back to exec'ing a supervisor as before and leaves a server
behind for the next one (`ensure_started`); `jocker serve` starts one that
lives as long as the API server. A server exits after `forkserver_idle`
seconds without a request (jocker.conf; 0 turns the fork-server off), when
its socket file is removed or replaced, when a jocker module it loaded has
changed on disk (it would run old code), or when the process it was started
for (`jocker serve`) is gone.

A request is one connection: the JSON {"job", "exe", "pkg", "env", "umask"}
with two descriptors (the write end of the ready pipe and the supervisor's
error log), then EOF. The server forks twice (the supervisor is re-parented
to init, which reaps it, so the server never has zombies and may exit while
its supervisors run); the grandchild answers `pid N` on the connection itself
and becomes the supervisor. It closes every descriptor it did not get for the
job (the server's socket, its lock, the selector), resets the signal handlers
and takes the client's environment and umask, so it is what an exec'd
supervisor would have been (limits, nice and cgroup
are the server's, so it forks only for callers whose are the same:
process_context()). The server is single-threaded: no lock or thread
state can be inherited half-held.

Crash safety: a client that cannot connect, or gets no `pid` answer,
returns None and the caller execs the supervisor itself. A server that died
leaves its lock free and its socket refusing connections; the next start
replaces it. A stale reply path (the server died after forking) is covered
by the supervisor's own lock: two supervisors can never run one container.

The lock, socket, staleness checks and process_context() are shared with
the warm CLI's fork-server (jocker/forkbase.py). Small on purpose: the server imports what a supervisor imports and nothing
else (tests/unit/test_supervisor_closure.py pins both), and freezes the
garbage collector before forking, so the forked supervisors share the
server's pages (their marginal memory is their PSS).
"""

from __future__ import annotations

import json
import os
import socket
import sys

from .. import rundir as RD
from ..forkbase import (PACKAGE_PARENT, ForkServerBase, alive, close_fd, current_umask,
                        env_with_package_first, lock_held, open_fds, peer_refusal, process_context,
                        spawn_detached)

MAIN = "from jocker.containers.forkserver import main; main()"
REQUEST_MAX = 1 << 20


# -- the client side (the engine: CLI or `jocker serve`) ----------------------------

def running(rundir: str) -> bool:
    """A server holds the lock (it may still be exiting: request() says)."""
    return lock_held(RD.path(rundir, RD.FORKSERVER_LOCK))


def request(rundir: str, job_path: str, ready_w: int, errlog_fd: int, timeout: float = 10.0) -> int | None:
    """A supervisor for job_path, forked by the server: its pid, or None when
    no server answered (the caller then execs the supervisor). job_path "-":
    a supervisor ahead of its container, which reads its job path from the
    pipe errlog_fd then is (the read end), and opens its log itself."""
    return reply(send(rundir, job_path, ready_w, errlog_fd, timeout))


def send(rundir: str, job_path: str, ready_w: int, errlog_fd: int,
         timeout: float = 10.0) -> socket.socket | None:
    """request()'s first half: the request sent, the answer not waited for
    (a `run` goes on making its clone meanwhile); None: no server."""
    path = RD.path(rundir, RD.FORKSERVER_SOCK)
    try:
        from .attach import connect
        conn = connect(path)
    except OSError:
        return None
    try:
        conn.settimeout(timeout)
        payload = json.dumps({"job": job_path, "exe": sys.executable, "pkg": PACKAGE_PARENT,
                              "env": supervisor_env(), "umask": current_umask(),
                              "context": process_context()}).encode()
        socket.send_fds(conn, [payload], [ready_w, errlog_fd])
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        conn.close()
        return None
    return conn


def reply(conn: socket.socket | None) -> int | None:
    """request()'s second half: the forked supervisor's pid, or None (no
    server, a refusal, a server gone before answering). Closes conn."""
    if conn is None:
        return None
    answer = b""
    try:
        while not answer.endswith(b"\n"):
            chunk = conn.recv(256)
            if not chunk:
                break
            answer += chunk
    except OSError:
        return None
    finally:
        conn.close()
    words = answer.split()
    if len(words) == 2 and words[0] == b"pid" and words[1].isdigit():
        return int(words[1])
    return None


def supervisor_env() -> dict[str, str]:
    """A supervisor's environment, forked or exec'd: the caller's, with this
    jocker first on PYTHONPATH (what it runs, e.g. jail_create, imports it)."""
    return env_with_package_first()


def ensure_started(rundir: str, idle: float, *, parent: int = 0) -> None:
    """Leave a server behind for the next start, unless one runs. Detached,
    not waited for: this start goes on without it."""
    if idle <= 0 or running(rundir):
        return
    spawn_detached([sys.executable, "-S", "-c", MAIN, rundir, str(idle), str(parent)], supervisor_env())


# -- the server ------------------------------------------------------------------------

class Server(ForkServerBase):
    def __init__(self, rundir: str, idle: float, parent: int = 0):
        super().__init__(rundir, RD.FORKSERVER_LOCK, RD.FORKSERVER_SOCK)
        self.idle, self.parent = idle, parent

    def preload(self) -> None:
        """What every supervisor imports, loaded once and shared by the forks."""
        from . import health, supervisor  # noqa: F401
        if sys.platform.startswith("freebsd"):
            from ..runtime import freebsd_jail  # noqa: F401
        else:
            # Every container's first two processes (the namespace child and
            # PID 1) run nsinit with ctypes: loaded here once, not in each;
            # and Docker's default seccomp filter made once, not per start.
            from ..runtime import linux_ns, linux_security, nsinit  # noqa: F401
            from ..runtime.security import DEFAULT_CAPABILITIES
            linux_security.prepare_default_filter(DEFAULT_CAPABILITIES)
            # A bridge container's network set-up and teardown, and a --rm
            # container's removal: ~4 ms of imports each supervisor paid on
            # a two-core host while its container ran (~0.3 MB shared).
            from ..net import linux, rtnl  # noqa: F401
            from . import remove  # noqa: F401
            from ..storage import stale, zfs_cli, zfsfuse  # noqa: F401
        self.remember_loaded()
        import gc
        gc.collect()
        gc.freeze()         # the forks' collector never touches (copies) these pages

    def serve(self) -> None:
        import select
        import signal
        import time
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        last = time.monotonic()
        while True:
            ready, _, _ = select.select([self.listener], [], [], 1.0)
            if not ready:
                if self.stale() or (self.parent and not alive(self.parent)):
                    return
                if self.idle > 0 and not self.parent and time.monotonic() - last > self.idle:
                    return
                continue
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            last = time.monotonic()
            if not self.handle(conn):
                return

    def handle(self, conn: socket.socket) -> bool:
        """One request; False when this server must go (its code changed)."""
        fds: list[int] = []
        try:
            conn.settimeout(5)
            data, fds, _, _ = socket.recv_fds(conn, 65536, 2)
            while data and len(data) < REQUEST_MAX:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            req = json.loads(data) if data else None
            # the caller's privileges, not its namespaces: a supervisor is
            # not the CLI (it works in the run directory and the engine's mounts)
            refusal = self._refusal(req, fds) or peer_refusal(conn, places=False)
            if refusal:
                conn.sendall(f"refused {refusal}\n".encode())
                return refusal != "stale"
            pid = os.fork()
            if pid == 0:
                self._child(conn, fds, req)         # never returns
            os.waitpid(pid, 0)                      # the first child exits at once
            return True
        except (OSError, ValueError):
            return True             # a client that went away or sent garbage
        finally:
            for fd in fds:
                close_fd(fd)
            conn.close()

    def _refusal(self, req, fds: list[int]) -> str:
        if not isinstance(req, dict) or len(fds) != 2 or not isinstance(req.get("job"), str):
            return "bad-request"
        if req.get("exe") != sys.executable or req.get("pkg") != PACKAGE_PARENT:
            return "other-jocker"   # another interpreter or checkout: it execs its own
        if req.get("context") != process_context():
            return "other-context"  # other limits, nice or cgroup: it execs with its own
        if self.code_changed():
            return "stale"
        return ""

    def _child(self, conn: socket.socket, fds: list[int], req: dict) -> None:
        code = 125
        try:
            os.setsid()
            if os.fork():
                os._exit(0)                         # the supervisor goes to init
            # The second descriptor: the supervisor's log, or (job "-", a
            # supervisor asked for ahead of its container) the pipe its job
            # path will come through; it opens its log once it knows the job.
            ready_w, second = fds
            ahead = req["job"] == "-"
            self.forget()
            import signal
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
                signal.signal(s, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
            os.umask(int(req.get("umask", 0o022)))
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(second if ahead else devnull, 0)
            os.dup2(devnull if ahead else second, 1)
            os.dup2(devnull if ahead else second, 2)
            conn.sendall(f"pid {os.getpid()}\n".encode())
            keep = {0, 1, 2, ready_w, conn.fileno()}
            conn.close()
            for fd in open_fds():
                if fd not in keep:
                    close_fd(fd)
            os.set_inheritable(ready_w, False)
            from .supervisor import run_job
            code = run_job(req["job"], ready_w)
        except BaseException as e:              # say why in supervisor.err
            try:
                os.write(2, f"jocker: forked supervisor: {e or type(e).__name__}\n".encode())
            except OSError:
                pass
        finally:
            os._exit(code)


def main() -> None:
    rundir, idle = sys.argv[1], float(sys.argv[2])
    parent = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    Server(rundir, idle, parent).run()


if __name__ == "__main__":
    main()
