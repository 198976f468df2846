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

from ..containers.identity import image_identity, process_env
from .. import rundir as RD
from ..envvars import merge_env
from ..errors import JockerError
from ..host.runner import Runner, default_runner
from . import tmpfs
from .base import ProcessCommand, RuntimeDriver

TYPE_CHECKING = False    # typing's own constant costs the supervisor ~2 MB of RSS
if TYPE_CHECKING:
    from .spec import ContainerSpec

NSINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nsinit.py")
NSEXEC = os.path.join(os.path.dirname(NSINIT), "nsexec.py")


def _spec_json(spec: ContainerSpec, store_dirs: list[str], console_fd: int | None = None) -> dict:
    # The user is looked up here, on the host side, in the image's own files
    # (an unknown one fails the start with Docker's message and 125).
    who = image_identity(spec.rootfs, spec.user, spec.group_add)
    return {
        "console_fd": console_fd, "store_dirs": store_dirs, "security": spec.security,
        "rootfs": spec.rootfs, "rundir": spec.rundir, "argv": spec.argv,
        "env": process_env(spec.env, hostname=spec.hostname, tty=spec.tty, home=who.home),
        "uid": who.uid, "gid": who.gid, "groups": list(who.groups),
        "workdir": _in_root(spec.rootfs, spec.workdir), "hostname": spec.hostname,
        "mounts": [_mount_json(m, spec.rootfs) for m in spec.mounts],
        "loopback_up": spec.network == "none" and not _netns(spec),
    }


def _in_root(rootfs: str, path: str) -> str:
    """path with the image's symlinks resolved as if chrooted (the one
    resolver, rootfs.container_path_in_root, also used by --read-only's
    seal), so -w, WORKDIR and mount targets through an in-image link
    (/app -> /opt/app) land where Docker puts them, always inside the root;
    nsinit then refuses any link left on the way. Link-free paths (the
    usual case) cost a few lstat calls and no import."""
    cur = rootfs
    for part in (p for p in (path or "/").split("/") if p and p != "."):
        cur = os.path.join(cur, part)
        if part == ".." or os.path.islink(cur):
            from ..rootfs import container_path_in_root
            return container_path_in_root(rootfs, path)
        if not os.path.lexists(cur):
            break
    return path


def _mount_json(m, rootfs: str) -> dict:
    out = {"source": m.source, "target": _in_root(rootfs, m.target), "readonly": m.readonly,
           "kind": m.kind}
    if m.kind == "tmpfs":
        out["flags"], out["data"] = tmpfs.linux_mount(m.options)
    return out


class LinuxNamespaceDriver(RuntimeDriver):
    name = "linux"
    # With -t the terminal is allocated inside the container's devpts; the
    # supervisor receives its master over the socket given to console_command.
    creates_console = True
    reports_init_pid = True
    binds_single_files = True
    # The mounts live in the container's mount namespace, gone with its
    # last process: destroy() only has the network stack and run files left.
    teardown_apart_from_storage = True

    def __init__(self, runner: Runner | None = None, store_dirs: list[str] = ()):
        self.runner = runner or default_runner()
        # Where other containers' clones and layers are mounted: nsinit keeps
        # recursive binds from copying them (see linux_security.isolate_store).
        self.store_dirs = list(store_dirs)

    def prepare_host(self) -> None:
        """Nothing global to prepare: namespaces are created per container."""

    def _net(self):
        from ..net.linux import LinuxNetworkDriver
        return LinuxNetworkDriver(self.runner)

    def create(self, spec: ContainerSpec) -> None:
        os.makedirs(spec.rundir, exist_ok=True)
        # First: an unknown user fails here, before anything needs tearing down.
        spec_json = _spec_json(spec, self.store_dirs)
        if _netns(spec):
            self._net().setup(spec.net)
        try:
            os.unlink(RD.path(spec.rundir, RD.INIT_PID))
        except FileNotFoundError:
            pass
        with open(RD.path(spec.rundir, RD.SPEC_JSON), "w") as f:
            json.dump(spec_json, f)

    def console_command(self, spec: ContainerSpec, console_fd: int) -> ProcessCommand:
        """main_command for -t: nsinit makes the pty and sends its master on console_fd."""
        with open(RD.path(spec.rundir, RD.SPEC_JSON), "w") as f:
            json.dump(_spec_json(spec, self.store_dirs, console_fd), f)
        return self.main_command(spec)

    def main_command(self, spec: ContainerSpec) -> ProcessCommand:
        # No --fork: nsinit forks PID 1 itself so it can report the exact exit status.
        netns = _netns(spec)
        argv = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
        argv += ["unshare", "--pid", "--mount", "--uts", "--ipc", "--propagation", "private"]
        if spec.network == "none" and not netns:
            argv.append("--net")
        spec_path = RD.path(spec.rundir, RD.SPEC_JSON)
        argv += ["--", sys.executable, "-S", NSINIT, spec_path]
        return ProcessCommand(argv, {}, in_child=_InNamespaces(spec_path, spec.network == "none" and not netns,
                                                               netns))

    def init_pid(self, spec: ContainerSpec, timeout: float = 5.0) -> int | None:
        """Host PID of the container's PID 1 (written by nsinit at start)."""
        path = RD.path(spec.rundir, RD.INIT_PID)
        deadline = time.monotonic() + timeout
        pause = 0.0005          # nsinit writes it within a millisecond or two of the start
        while True:
            try:
                return int(open(path).read())
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    def exec_command(self, spec, argv, *, user, workdir, env, tty, main_pid):
        """nsexec.py joins the namespaces and applies the container's security
        profile (nsenter alone would hand the process every capability)."""
        pid = main_pid or self.init_pid(spec, 0)
        if not pid:
            raise JockerError(f"container {spec.short_id} is not running")
        who = image_identity(spec.rootfs, user or spec.user, spec.group_add)
        ids = None if who.is_root and not who.gid else [who.uid, who.gid, list(who.groups)]
        job = {"pid": pid, "security": spec.security, "ids": ids,
               "workdir": workdir or spec.workdir or "/", "argv": list(argv)}
        env_map = dict(e.split("=", 1) for e in process_env(
            merge_env(spec.env, env), hostname=spec.hostname, tty=tty, home=who.home) if "=" in e)
        return ProcessCommand([sys.executable, "-E", "-s", "-S", NSEXEC, json.dumps(job)], env_map)

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
        if _netns(spec) or _leftover_netns(spec):
            self._net().teardown(spec.net)
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

    def __init__(self, spec_path: str, no_network: bool, netns: str = ""):
        self.spec_path = spec_path
        self.no_network = no_network
        self.netns = netns

    def __call__(self) -> int:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if self.netns:          # the container's own stack, set up by the network driver
            fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY | os.O_CLOEXEC)
            ok = libc.setns(fd, CLONE_NEWNET) == 0
            os.close(fd)
            if not ok:
                os.write(2, f"jocker-init: setns {self.netns}: {os.strerror(ctypes.get_errno())}\n".encode())
                return 125
        flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
        if self.no_network:
            flags |= CLONE_NEWNET
        if libc.unshare(flags) != 0:
            os.write(2, f"jocker-init: unshare: {os.strerror(ctypes.get_errno())}\n".encode())
            return 125
        from . import nsinit
        nsinit.run(self.spec_path)      # forks PID 1, waits, exits with its status
        return 125


def _netns(spec) -> str:
    """The named netns of a container on jocker's networks ("" otherwise).
    --network none needs no name: nothing is ever added to its stack (a
    container on none cannot be connected), so unshare(CLONE_NEWNET) makes
    it and nsinit brings its loopback up; it goes with the last process."""
    net = getattr(spec, "net", None) or {}
    return net.get("netns", "") if net.get("mode") == "bridge" else ""


def _leftover_netns(spec) -> bool:
    """A none-mode spec whose named netns exists anyway (made by a jocker that
    gave none a named netns, or a stack rebuilt as none by `network
    disconnect`): torn down like a bridge one. One stat, no host command."""
    net = getattr(spec, "net", None) or {}
    return net.get("mode") == "none" and bool(net.get("netns")) and \
        os.path.exists(f"/run/netns/{net['netns']}")


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
