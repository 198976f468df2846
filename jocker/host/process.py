"""Starting and waiting for host processes without the subprocess module.

The per-container supervisor must stay small (the benchmark goal is 12 MB
RSS), and importing subprocess (with threading, locale, warnings...) costs it
about 1 MB per container. This is the little the runner needs: fork, wire
the standard streams, exec, report an exec failure through a close-on-exec
pipe, wait. Only the runner uses it for that; `pid_alive` is the one
answer to "does this process still exist".
"""

from __future__ import annotations

import errno
import os
import select
import sys
import time

def pid_alive(pid: int | str) -> bool:
    """The process exists (a process we may not signal exists too). Liveness
    of a supervisor is its lock, not this: a PID can be reused."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PIPE = -1
DEVNULL = -2
STDOUT = -3      # for stderr: the same pipe as stdout


class Process:
    """A started host process. Pipe ends are plain file descriptors."""

    def __init__(self, pid: int, stdin: int | None, stdout: int | None, stderr: int | None):
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    def _status(self, status: int) -> int:
        self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return self.returncode
            if pid:
                self._status(status)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self._status(status)
            except InterruptedError:
                continue
        return self.returncode

    def close_stdin(self) -> None:
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None


def widen_pipe(fd: int | None, size: int = 1 << 20) -> None:
    """Give a pipe room for size bytes where the system can (Linux's
    F_SETPIPE_SZ); else leave it. FreeBSD has no such call: its pipes hold
    16-64 KB, so a command begun early stops there until it is read [U:
    measure an early store read's overlap on FreeBSD]."""
    import fcntl
    if fd is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        except OSError:
            pass


def _child_fd(spec, mode: int, ours: list[int]) -> tuple[int | None, int | None]:
    """(fd for the child, fd we keep) for PIPE, DEVNULL, an fd or None (inherit)."""
    if spec is None:
        return None, None
    if spec == DEVNULL:
        fd = os.open(os.devnull, mode)
        ours.append(fd)
        return fd, None
    if spec == PIPE:
        r, w = os.pipe()
        child, parent = (r, w) if mode == os.O_RDONLY else (w, r)
        ours.append(child)
        return child, parent
    return spec, None


def start(argv: list[str], *, env: dict | None = None, cwd: str | None = None,
          stdin=None, stdout=None, stderr=None, pass_fds=(), new_session: bool = False,
          child_setup=None, child_main=None) -> Process:
    """fork + exec. Raises FileNotFoundError/PermissionError when exec fails.

    With child_main, the child runs that function (our own code, already
    loaded) instead of exec'ing argv, and exits with what it returns; argv
    then only describes it."""
    to_close: list[int] = []
    in_c, in_p = _child_fd(stdin, os.O_RDONLY, to_close)
    out_c, out_p = _child_fd(stdout, os.O_WRONLY, to_close)
    err_c, err_p = (out_c, None) if stderr == STDOUT else _child_fd(stderr, os.O_WRONLY, to_close)
    if child_main is None and cwd is None and not pass_fds and child_setup is die_with_parent \
            and _setpriv():
        try:
            pid = _spawn(argv, env, ((in_c, 0), (out_c, 1), (err_c, 2)), new_session)
        except BaseException:
            for fd in (in_p, out_p, err_p):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in to_close:
                os.close(fd)
        return Process(pid, in_p, out_p, err_p)
    if child_setup is die_with_parent and "ctypes" in sys.modules:
        _load_libc()        # else the child loads it: a supervisor never keeps ctypes
    err_r, err_w = os.pipe()          # both ends close-on-exec (PEP 446)
    global _forker
    _forker = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            for src, dst in ((in_c, 0), (out_c, 1), (err_c, 2)):
                if src is not None and src != dst:
                    os.dup2(src, dst)
            keep = {0, 1, 2, err_w, *pass_fds}
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            top = max(keep) + 1
            for fd in range(3, top):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            os.closerange(top, 4096)
            if new_session:
                os.setsid()
            if child_setup:
                child_setup()
            if cwd:
                os.chdir(cwd)
            if child_main is not None:
                os.close(err_w)       # nothing will be exec'd: release the parent
                code = 125
                try:
                    code = child_main()
                except BaseException as e:     # never a silent 125: say why
                    try:
                        os.write(2, f"jocker: {e or type(e).__name__}\n".encode())
                    except OSError:
                        pass
                finally:
                    os._exit(code or 0)
            os.execvpe(argv[0], argv, env if env is not None else os.environ)
        except BaseException as e:    # tell the parent why, then die
            code = getattr(e, "errno", None) or errno.EINVAL
            try:
                os.write(err_w, str(code).encode())
            finally:
                os._exit(127)
    os.close(err_w)
    for fd in to_close:
        os.close(fd)
    failure = b""
    while True:
        chunk = os.read(err_r, 64)
        if not chunk:
            break
        failure += chunk
    os.close(err_r)
    if failure:
        os.waitpid(pid, 0)
        for fd in (in_p, out_p, err_p):
            if fd is not None:
                os.close(fd)
        code = int(failure or errno.EINVAL)
        if code == errno.ENOENT:
            raise FileNotFoundError(code, os.strerror(code), argv[0])
        raise OSError(code, os.strerror(code), argv[0])
    return Process(pid, in_p, out_p, err_p)


# -- the spawn path -------------------------------------------------------------
# A fork of a Python process costs its page tables, then a copy of every page
# the child's Python code touches before exec: ~3.3 ms per command from the
# warm CLI's 25 MB, against ~0.8 ms for posix_spawn (vfork: nothing copied).
# posix_spawn cannot set a parent-death signal, so on Linux the command goes
# through util-linux's setpriv(1), which sets it and execs the command (~1 ms
# more, still about half the fork). Elsewhere, or without setpriv: fork.

_SETPRIV: list = []


def _setpriv() -> str:
    if not _SETPRIV:
        path = "/usr/bin/setpriv"
        _SETPRIV.append(path if sys.platform.startswith("linux") and os.access(path, os.X_OK) else "")
    return _SETPRIV[0]


def _resolve(name: str, env) -> str:
    """What os.execvpe would run: name itself when it has a slash, else the
    first executable of that name on env's PATH. What it would not run
    raises here as exec would (FileNotFoundError, PermissionError): setpriv
    would only exit 127/126 with its own message, not the runner's."""
    if "/" in name:
        if os.access(name, os.X_OK) and not os.path.isdir(name):
            return name
        seen = os.path.exists(name)
    else:
        seen = False
        # os.get_exec_path(env), without the warnings module it imports; an
        # empty entry is the working directory, named so: setpriv's execvp
        # must not search PATH again for a name without a slash
        path_list = env.get("PATH")
        for d in (os.defpath if path_list is None else path_list).split(os.pathsep):
            path = os.path.join(d or os.curdir, name)
            if os.access(path, os.X_OK) and not os.path.isdir(path):
                return path
            seen = seen or os.path.exists(path)
    code = errno.EACCES if seen else errno.ENOENT
    raise (PermissionError if seen else FileNotFoundError)(code, os.strerror(code), name)


def _spawn(argv: list[str], env, stdio, new_session: bool) -> int:
    """posix_spawn through setpriv: the command with its standard streams,
    its own process group (or session), a parent-death SIGKILL, and no other
    descriptor of ours (ours are close-on-exec; inheritable ones are closed)."""
    env = env if env is not None else os.environ
    target = _resolve(argv[0], env)
    actions = [(os.POSIX_SPAWN_DUP2, src, dst) for src, dst in stdio if src is not None and src != dst]
    wired = {dst for src, dst in stdio if src is not None}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in wired:
            try:
                if os.get_inheritable(fd):
                    actions.append((os.POSIX_SPAWN_CLOSE, fd))
            except OSError:
                pass                    # the listing's own descriptor, gone already
    cmd = [_setpriv(), "--pdeathsig", "KILL", "--", target, *argv[1:]]
    if new_session:
        return os.posix_spawn(cmd[0], cmd, env, file_actions=actions, setsid=True)
    return os.posix_spawn(cmd[0], cmd, env, file_actions=actions, setpgroup=0)


def communicate(proc: Process, data: bytes | None, timeout: float) -> tuple[bytes, bytes, bool]:
    """Feed data to stdin, collect stdout/stderr until both close or timeout.
    Returns (out, err, timed_out); on timeout the process is killed."""
    out, err = bytearray(), bytearray()
    readers = {fd: buf for fd, buf in ((proc.stdout, out), (proc.stderr, err)) if fd is not None}
    writer = proc.stdin if data else None
    if proc.stdin is not None and not data:
        proc.close_stdin()
    view = memoryview(data or b"")
    deadline = time.monotonic() + timeout
    while readers or writer is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_group(proc.pid)
            proc.wait()
            for fd in readers:
                os.close(fd)
            return bytes(out), bytes(err), True
        r, w, _ = select.select(list(readers), [writer] if writer is not None else [], [], left)
        for fd in r:
            chunk = os.read(fd, 65536)
            if chunk:
                readers[fd] += chunk
            else:
                os.close(fd)
                del readers[fd]
        if w:
            try:
                n = os.write(writer, view[:65536])
            except BrokenPipeError:
                n = len(view)
            view = view[n:]
            if not view:
                proc.close_stdin()
                writer = None
    return bytes(out), bytes(err), False


# -- host commands die with jocker ---------------------------------------------

PR_SET_PDEATHSIG = 1            # Linux prctl(2)
P_PID, PROC_PDEATHSIG_CTL = 0, 11   # FreeBSD procctl(2), sys/procctl.h [U: confirm on a host]


def pdeathsig_call(platform: str, pid: int, signum: int = 9) -> tuple[str, tuple] | None:
    """The libc call that makes the calling process get signum when its
    parent dies: Linux prctl(PR_SET_PDEATHSIG, sig); FreeBSD
    procctl(P_PID, pid, PROC_PDEATHSIG_CTL, &sig) (since 11.2). None elsewhere."""
    if platform.startswith("linux"):
        return "prctl", (PR_SET_PDEATHSIG, signum)
    if platform.startswith("freebsd"):
        return "procctl", (P_PID, pid, PROC_PDEATHSIG_CTL, signum)
    return None


_libc = None
_forker = 0         # the process that forked the child now calling die_with_parent


def _load_libc():
    """The C library through ctypes, loaded in the parent where ctypes
    already is (the warm CLI, a Linux fork-server's supervisors): a child
    that imported ctypes itself would pay for it (~4 ms) on every command.
    Where it is not, the child loads it: a process that lives long and small
    (a jail's supervisor) must not keep ctypes (~0.5 MB) for one command."""
    global _libc
    if _libc is None:
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def die_with_parent() -> None:
    """In a forked child, before exec: its own process group (a timeout kills
    the whole group, tar and its xz alike) and SIGKILL when jocker dies, so
    a killed `import` leaves no tar writing into a layer the GC destroys."""
    import ctypes
    import sys
    os.setpgid(0, 0)
    call = pdeathsig_call(sys.platform, os.getpid())
    if call is None:
        return
    name, args = call
    libc = _load_libc()
    if name == "procctl":
        sig = ctypes.c_int(args[3])
        libc.procctl(args[0], ctypes.c_int64(args[1]), args[2], ctypes.byref(sig))
    else:
        libc.prctl(*args)
    if _forker and os.getppid() != _forker:
        # The parent died between the fork and the call: no signal will come.
        os.kill(os.getpid(), args[-1])


def kill_group(pid: int) -> None:
    """SIGKILL a command's process group (die_with_parent made one)."""
    for kill in (lambda: os.killpg(pid, 9), lambda: os.kill(pid, 9)):
        try:
            kill()
            return
        except (ProcessLookupError, PermissionError):
            continue
