"""What jocker's two fork-servers share: the supervisors' one
(containers/forkserver.py) and the warm CLI's (warm/server.py).

Both are warm, single-threaded processes in the run directory that fork on
request: one per run directory (flock(2) on a lock file held for the
server's whole life), a UNIX socket beside it (mode 0600 in the root-only
run directory), an exit when the socket file is removed or replaced or when
a jocker module the server loaded changed on disk (it would run old code),
and a refusal for callers whose process context differs from the server's
(process_context). Standard library only, and small: both the supervisor's
closure and the CLI client's start-up import it.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_with_package_first() -> dict[str, str]:
    """The caller's environment, with this jocker first on PYTHONPATH: a
    process started from it imports the same jocker whatever its cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def process_context() -> dict:
    """What a forked child keeps from the server rather than the caller:
    resource limits, nice value and (Linux) cgroup. A server forks only for
    a caller whose context is its own; any other caller goes the slow way
    (exec), so a child never gets the limits of whatever command happened to
    start the server. FreeBSD's login class and cpuset are not compared [U]:
    they follow rlimits and the caller's cpuset is inherited the same way on
    exec."""
    import resource
    limits = {name: list(resource.getrlimit(getattr(resource, name)))
              for name in sorted(dir(resource)) if name.startswith("RLIMIT_")}
    try:
        with open("/proc/self/cgroup") as f:
            cgroup = f.read()
    except OSError:
        cgroup = ""
    root = os.stat("/")         # a chroot or jail has another root [U: FreeBSD jail]
    return {"rlimits": limits, "nice": os.getpriority(os.PRIO_PROCESS, 0), "cgroup": cgroup,
            "root": [root.st_dev, root.st_ino]}


_NAMESPACES = ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup")


def confinement(pid: int | str = "self", *, places: bool = True) -> list | None:
    """Where a process lives and what it may do, as the kernel tells it
    (Linux /proc), not as the process claims: its namespaces, root
    directory, capability sets, no_new_privs and seccomp mode. A server
    compares its peer's (SO_PEERCRED's pid) with its own: a root caller in
    another mount or network namespace, or stripped of capabilities, must
    not get a child that has the server's. None without /proc (FreeBSD:
    process_context's root is the check there). places=False: only what it
    may do, not where it is."""
    try:
        out: list = []
        for ns in _NAMESPACES if places else ():
            try:
                out.append(os.stat(f"/proc/{pid}/ns/{ns}").st_ino)
            except FileNotFoundError:
                out.append(None)        # a kernel without that namespace kind
        if places:
            root = os.stat(f"/proc/{pid}/root")
            out.append((root.st_dev, root.st_ino))
        with open(f"/proc/{pid}/status") as f:
            out.extend(line for line in f if line.startswith(("Cap", "NoNewPrivs", "Seccomp")))
        return out
    except OSError:
        return None


# FreeBSD's getsockopt(SOL_LOCAL, LOCAL_PEERCRED) answers a struct xucred
# (sys/ucred.h): u_int cr_version (XUCRED_VERSION, 0), uid_t cr_uid, ... [U]
FREEBSD_SOL_LOCAL, FREEBSD_LOCAL_PEERCRED, XUCRED_VERSION, XUCRED_SIZE = 0, 1, 0, 88


def xucred_uid(raw: bytes) -> int | None:
    """cr_uid of a FreeBSD struct xucred; None for a layout version this
    code does not know (the caller then refuses)."""
    import struct
    if len(raw) < 8:
        return None
    version, uid = struct.unpack_from("=II", raw)
    return uid if version == XUCRED_VERSION else None


def peer_refusal(conn, *, places: bool = True) -> str:
    """Why a server must not fork for the process at the other end of conn
    (a connected AF_UNIX socket), '' when it may: another user, or another
    confinement (confinement(), places as there). FreeBSD tells the peer's
    uid (LOCAL_PEERCRED [U]) but no /proc to compare confinements: there the
    root-only run directory and process_context()'s root are the rest of
    the gate."""
    import socket
    import struct
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        if not sys.platform.startswith("freebsd"):
            return ""
        uid = xucred_uid(conn.getsockopt(FREEBSD_SOL_LOCAL, FREEBSD_LOCAL_PEERCRED, XUCRED_SIZE))
        if uid is None:
            return "unknown-peer"
        return "other-user" if uid != os.geteuid() else ""
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i")))
    if uid != os.getuid():
        return "other-user"
    if confinement(pid, places=places) != confinement(places=places):
        return "other-context"      # another namespace or root, fewer capabilities
    return ""


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def lock_held(path: str) -> bool:
    """Some process holds the flock on path (a server runs; it may still be
    exiting: its socket says)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def spawn_detached(argv: list[str], env: dict[str, str]) -> None:
    """Start a server and do not wait for it: its own session, stdio on
    /dev/null, cwd /. Failing to start one only means no warm server."""
    import subprocess
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, cwd="/", env=env,
                         close_fds=True)
    except OSError:
        pass


class ForkServerBase(ABC):
    """The lock, the listening socket and the staleness checks; subclasses
    add the request protocol and what they preload."""

    def __init__(self, rundir: str, lock_name: str, sock_name: str, *, make_dir: bool = True):
        self.rundir, self.make_dir = rundir, make_dir
        self.lock_path = os.path.join(rundir, lock_name)
        self.sock_name = sock_name
        self.sock_path = os.path.join(rundir, sock_name)
        self.lock_fd = -1
        self.listener = None
        self.ino = 0
        self.loaded: dict[str, float] = {}

    def run(self) -> None:
        """The server's life: claim the run directory (or leave it to the
        one that has it), preload, listen, serve; its socket file goes with it."""
        if not self.claim():
            return
        self.preload()
        self.listen()
        try:
            self.serve()
        finally:
            self.unlink_socket()

    @abstractmethod
    def preload(self) -> None:
        """Import what every fork needs, once, before listening."""

    @abstractmethod
    def serve(self) -> None:
        """Accept and answer requests until the server should exit."""

    def claim(self) -> bool:
        import fcntl
        if self.make_dir:
            os.makedirs(self.rundir, mode=0o700, exist_ok=True)
        try:
            self.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return False            # no run directory (any more): nothing to serve
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False            # another server runs here
        os.ftruncate(self.lock_fd, 0)
        os.write(self.lock_fd, b"%d\n" % os.getpid())    # who serves (tests, benchmarks)
        return True

    def listen(self) -> None:
        import socket
        try:
            os.unlink(self.sock_path)           # a dead server's (we hold the lock)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)                   # 0600 from the start: root only
        try:
            os.chdir(self.rundir)               # bind by a short name (sun_path limit)
            s.bind(self.sock_name)
        finally:
            os.chdir("/")
            os.umask(old)
        s.listen(16)
        self.listener = s
        self.ino = os.stat(self.sock_path).st_ino

    def remember_loaded(self) -> None:
        """Stamp every jocker module loaded now (after preloading)."""
        self.loaded = loaded_stamps()

    def socket_replaced(self) -> bool:
        try:
            return os.stat(self.sock_path).st_ino != self.ino
        except OSError:
            return True

    def stale(self) -> bool:
        """Code changed on disk, or our socket is no longer the one clients reach."""
        return self.socket_replaced() or self.code_changed()

    def code_changed(self) -> bool:
        for f, t in self.loaded.items():
            try:
                if os.stat(f).st_mtime != t:
                    return True
            except OSError:
                return True
        return False

    def unlink_socket(self) -> None:
        """Our socket file, if it still is ours."""
        try:
            if os.stat(self.sock_path).st_ino == self.ino:
                os.unlink(self.sock_path)
        except OSError:
            pass

    def forget(self) -> None:
        """In a forked child: the server's descriptors are not the child's.
        Detach the objects (no close-by-GC of a reused number later), then
        close."""
        if self.listener is not None:
            close_fd(self.listener.detach())
            self.listener = None
        close_fd(self.lock_fd)      # flock is per open file: the server's lock stays its own
        self.lock_fd = -1


def loaded_stamps() -> dict[str, float]:
    out = {}
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) if name.startswith("jocker") else None
        if f:
            try:
                out[f] = os.stat(f).st_mtime
            except OSError:
                out[f] = -1.0
    return out


def open_fds() -> list[int]:
    for d in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(x) for x in os.listdir(d) if x.isdigit()]
        except OSError:
            continue
    return list(range(3, 1024))


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
