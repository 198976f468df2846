"""`jocker exec` on Linux: join a running container and run a command under
the container's own security profile (capabilities, no_new_privs, seccomp),
which nsenter(1) alone would not apply.

Run as `python3 -E -s -S nsexec.py JOB.json-string` with the command's
environment as its own: it prepares the seccomp filter while the host's
libraries are reachable, enters the container's IPC, UTS, network, PID and
mount namespaces and its root, forks (a PID namespace takes effect for
children), and the child switches user and directory, confines itself and
execs. The parent forwards signals and exits with the child's status.

Stdlib only, importable by path like nsinit.py.
"""

import ctypes
import json
import os
import signal
import sys

try:
    from . import linux_security as security
    from .nsinit import die, exec_argv, exit_like
except ImportError:             # run by path: this directory is sys.path[0]
    import linux_security as security
    from nsinit import die, exec_argv, exit_like

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT)


def join(pid):
    """Enter the namespaces and root of the process pid."""
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    kinds = ["ipc", "uts", "net", "pid", "mnt"]
    fds = [os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY) for k in kinds]
    for kind, fd in zip(kinds, fds):
        if security._libc.setns(fd, 0) != 0:
            raise OSError(ctypes.get_errno(), f"setns {kind}: {os.strerror(ctypes.get_errno())}")
        os.close(fd)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)


def main(job):
    try:
        confinement = security.Confinement(job.get("security"))
        join(int(job["pid"]))
    except (OSError, security.SecurityError) as e:
        die(126, f"cannot enter the container: {e}")
    child = os.fork()
    if child == 0:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        try:
            exec_argv(job["argv"], dict(os.environ), job.get("ids"), job.get("workdir") or "/",
                      confinement)
        except BaseException as e:      # never a traceback
            die(126, str(e) or type(e).__name__)
        os._exit(127)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    exit_like(child)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
