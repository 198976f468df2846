"""Linux namespace runtime driver: the development and CI stand-in for jails.

Each container's main process is `unshare --pid --mount --uts --ipc` running
nsinit.py, whose child is PID 1 of the new PID namespace; it mounts /proc, a
minimal /dev and the volumes inside its private mount
namespace, and chroots into the ZFS clone. Everything it mounts disappears
with the namespace, so there is nothing to unmount on the host afterwards.
`exec` joins the namespaces of that PID 1 with nsenter.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from .. import rundir as RD
from ..envvars import merge_env
from ..errors import JockerError
from ..runner import Runner, default_runner
from .base import ProcessCommand, RuntimeDriver

TYPE_CHECKING = False    # typing's own constant costs the supervisor ~2 MB of RSS
if TYPE_CHECKING:
    from .spec import ContainerSpec

NSINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nsinit.py")


def _spec_json(spec: ContainerSpec, console_fd: int | None = None) -> dict:
    return {
        "console_fd": console_fd,
        "rootfs": spec.rootfs, "rundir": spec.rundir, "argv": spec.argv, "env": spec.env,
        "user": spec.user, "workdir": spec.workdir, "hostname": spec.hostname,
        "mounts": [{"source": m.source, "target": m.target, "readonly": m.readonly, "kind": m.kind}
                   for m in spec.mounts],
    }


class LinuxNamespaceDriver(RuntimeDriver):
    name = "linux"
    # With -t the terminal is allocated inside the container's devpts; the
    # supervisor receives its master over the socket given to console_command.
    creates_console = True

    def __init__(self, runner: Runner | None = None):
        self.runner = runner or default_runner()

    def prepare_host(self) -> None:
        """Nothing global to prepare: namespaces are created per container."""

    def create(self, spec: ContainerSpec) -> None:
        if spec.network not in ("host", "none"):
            raise JockerError(f"network {spec.network!r} is not available yet",
                              hint="use --network host or --network none")
        os.makedirs(spec.rundir, exist_ok=True)
        try:
            os.unlink(RD.path(spec.rundir, RD.INIT_PID))
        except FileNotFoundError:
            pass
        with open(RD.path(spec.rundir, RD.SPEC_JSON), "w") as f:
            json.dump(_spec_json(spec), f)

    def console_command(self, spec: ContainerSpec, console_fd: int) -> ProcessCommand:
        """main_command for -t: nsinit makes the pty and sends its master on console_fd."""
        with open(RD.path(spec.rundir, RD.SPEC_JSON), "w") as f:
            json.dump(_spec_json(spec, console_fd), f)
        return self.main_command(spec)

    def main_command(self, spec: ContainerSpec) -> ProcessCommand:
        # No --fork: nsinit forks PID 1 itself so it can report the exact exit status.
        argv = ["unshare", "--pid", "--mount", "--uts", "--ipc", "--propagation", "private"]
        if spec.network == "none":
            argv.append("--net")
        spec_path = RD.path(spec.rundir, RD.SPEC_JSON)
        argv += ["--", sys.executable, "-S", NSINIT, spec_path]
        return ProcessCommand(argv, {}, in_child=_InNamespaces(spec_path, spec.network == "none"))

    def init_pid(self, spec: ContainerSpec, timeout: float = 5.0) -> int | None:
        """Host PID of the container's PID 1 (written by nsinit at start)."""
        path = RD.path(spec.rundir, RD.INIT_PID)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(open(path).read())
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.005)

    def exec_command(self, spec, argv, *, user, workdir, env, tty, main_pid):
        pid = main_pid or self.init_pid(spec, 0)
        if not pid:
            raise JockerError(f"container {spec.short_id} is not running")
        cmd = ["nsenter", "--target", str(pid), "--pid", "--mount", "--uts", "--ipc", "--root",
               f"--wdns={workdir or spec.workdir or '/'}"]  # inside the new root (util-linux >= 2.38)
        who = user or spec.user
        if who and who not in ("root", "0", "0:0"):
            from .nsinit import lookup_user     # the image's passwd/group, read from the host side
            uid, gid, _groups, _home = lookup_user(spec.rootfs, who)
            cmd += ["--setgid", str(gid), "--setuid", str(uid)]
        env_map = dict(e.split("=", 1) for e in merge_env(spec.env, env) if "=" in e)
        return ProcessCommand(cmd + ["--", *argv], env_map)

    def signal_all(self, spec, signum, main_pid):
        pid = main_pid or self.init_pid(spec, 0)
        if not pid:
            return
        if signum == signal.SIGKILL:
            # Killing PID 1 of a PID namespace kills everything in it.
            _kill(pid, signal.SIGKILL)
        else:
            for p in self.pids(spec, pid):
                _kill(p, signum)

    def signal_main(self, spec, signum, main_pid):
        pid = main_pid or self.init_pid(spec, 0)
        if pid:
            _kill(pid, signum)

    def pids(self, spec, main_pid):
        pid = main_pid or self.init_pid(spec, 0)
        if not pid:
            return []
        try:
            target = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/pid") == target:
                        out.append(int(entry))
                except OSError:
                    continue
        return sorted(out)

    def destroy(self, spec: ContainerSpec) -> None:
        pid = self.init_pid(spec, 0)
        if pid and os.path.exists(f"/proc/{pid}"):
            _kill(pid, signal.SIGKILL)
        for name in (RD.INIT_PID, RD.SPEC_JSON):
            try:
                os.unlink(os.path.join(spec.rundir, name))
            except FileNotFoundError:
                pass


CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000


class _InNamespaces:
    """What `unshare --pid --mount --uts --ipc [--net] python3 nsinit.py SPEC`
    does, done in a forked child that already has Python loaded."""

    def __init__(self, spec_path: str, no_network: bool):
        self.spec_path = spec_path
        self.no_network = no_network

    def __call__(self) -> int:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
        if self.no_network:
            flags |= CLONE_NEWNET
        if libc.unshare(flags) != 0:
            os.write(2, f"jocker-init: unshare: {os.strerror(ctypes.get_errno())}\n".encode())
            return 125
        from . import nsinit
        nsinit.run(self.spec_path)      # forks PID 1, waits, exits with its status
        return 125


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
