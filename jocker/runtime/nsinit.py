"""The first process inside a Linux container (the workbench's stand-in for
what jail(8) + jexec do on FreeBSD).

Started as `unshare --pid --mount --uts --ipc ... python3 -S nsinit.py
SPEC.json`, it forks the PID 1 of a fresh PID namespace, records that child's
host PID and waits for it. The child mounts /proc, a minimal /dev and the
volumes (mount(2) through ctypes: syscalls, not host commands, and they vanish
with the namespace), sets the hostname, pivots into the clone (dropping the
host's mounts), switches user and working directory, and execs the command.

`jocker exec` does not come here: nsenter joins the namespaces and the
container's root directly (the host tree is gone from that namespace).

Standalone on purpose: stdlib only, imported by path with `python3 -S`, so
each container start costs one small interpreter start.
"""

import ctypes
import errno
import json
import os
import socket
import stat
import sys

try:
    from . import linux_security as security
except ImportError:             # run by path: this directory is sys.path[0]
    import linux_security as security

INIT_PID = "init.pid"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)

DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))


def die(code, msg):
    sys.stderr.write(f"jocker-init: {msg}\n")
    sys.stderr.flush()
    os._exit(code)


def mount(src, target, fstype, flags=0, data="", label=None):
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        die(125, f"mount {src} on {label or target}: {os.strerror(e)}")


O_PATH = getattr(os, "O_PATH", 0o10000000)


def fd_path(fd):
    """A path naming exactly what fd is: mount(2) on it acts on that object,
    with no lookup of a name an image or a shared volume could change."""
    return f"/proc/self/fd/{fd}"


def _step(cur, part, path, *, want_dir, create):
    """One component below cur, never through a symlink: an O_PATH|O_NOFOLLOW
    descriptor (O_DIRECTORY unless the last component is a file target),
    made first if missing and create is "dir" or "file"."""
    flags = O_PATH | os.O_NOFOLLOW | (os.O_DIRECTORY if want_dir else 0)
    for _ in range(2):
        try:
            fd = os.open(part, flags, dir_fd=cur)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(errno.ENOENT, f"{path}: no such file or directory") from None
            try:
                if create == "dir":
                    os.mkdir(part, 0o755, dir_fd=cur)
                else:
                    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644,
                                     dir_fd=cur))
            except FileExistsError:
                pass            # made meanwhile: open it, still without following
            continue
        except OSError as e:
            if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            st = os.stat(part, dir_fd=cur, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                die(125, f"refusing to mount over a symlink in the image: {path}")
            die(125, f"{path}: {part} is not a directory")
        if stat.S_ISLNK(os.fstat(fd).st_mode):      # O_PATH|O_NOFOLLOW opens a link itself
            os.close(fd)
            die(125, f"refusing to mount over a symlink in the image: {path}")
        return fd
    die(125, f"{path}: {part} keeps changing")


def open_in_root(root, path, *, make_dir=False, make_file=False):
    """(parent descriptor, last name, descriptor) of root + path, walked one
    component at a time from a descriptor of root with O_NOFOLLOW, so no
    symlink in the image (or one a container sharing a volume plants while
    we walk) can lead the walk, or the mount made on the result, out of the
    root; creates what is missing if asked. The root itself gives (None, "",
    fd). The caller closes both descriptors."""
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        die(125, f"refusing path with '..': {path}")
    parent, cur = None, os.open(root, O_PATH | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            create = ("file" if make_file and last else "dir") if (make_dir or make_file) else None
            nxt = _step(cur, part, path, want_dir=not (last and make_file), create=create)
            if parent is not None:
                os.close(parent)
            parent, cur = cur, nxt
    except BaseException:
        for fd in (parent, cur):
            if fd is not None:
                os.close(fd)
        raise
    return parent, (parts[-1] if parts else ""), cur


def safe_path(root, path, *, make_dir=False, make_file=False):
    """root + path after checking it holds no symlink (creating what is
    missing if asked): for what is not a mount target (the working
    directory), which nothing else resolves with host privileges."""
    for fd in open_in_root(root, path, make_dir=make_dir, make_file=make_file)[::2]:
        if fd is not None:
            os.close(fd)
    return os.path.join(root, *[p for p in path.split("/") if p and p != "."])


class Target:
    """A mount target held open (open_in_root); mount() onto it by
    descriptor, then `mounted` names the new mount's root by descriptor too
    (for remounts): the name looked up again from the parent descriptor,
    checked to be the mount just made."""

    def __init__(self, root, path, **make):
        self.path = os.path.join(root, path.lstrip("/")).rstrip("/") or "/"
        self.parent, self.name, self.fd = open_in_root(root, path, **make)
        self.top = None

    def mount(self, src, fstype, flags=0, data=""):
        mount(src, fd_path(self.fd), fstype, flags, data, label=self.path)
        under = os.fstat(self.fd)
        if self.parent is None:
            return fd_path(self.fd)
        self.top = os.open(self.name, O_PATH | os.O_NOFOLLOW, dir_fd=self.parent)
        top = os.fstat(self.top)
        if fstype:
            ok = top.st_dev != under.st_dev
        else:
            src_st = os.stat(src)
            ok = (top.st_dev, top.st_ino) == (src_st.st_dev, src_st.st_ino)
        if not ok:
            die(125, f"mount on {self.path}: the target changed while it was mounted; refusing")
        return fd_path(self.top)

    def close(self):
        for fd in (self.parent, self.fd, self.top):
            if fd is not None:
                os.close(fd)
        self.parent = self.fd = self.top = None


def setup_dev(root, confinement):
    target = Target(root, "/dev", make_dir=True)
    dev = target.path
    if confinement.confine_fs:          # nodev,noexec; the host's nodes bound in
        security.setup_devices(dev, mount_dev=lambda: target.mount(
            "tmpfs", "tmpfs", security.DEV_FLAGS, security.DEV_DATA))
        target.close()
    else:                                   # --privileged
        target.mount("tmpfs", "tmpfs", MS_NOSUID, "mode=755,size=65536k")
        target.close()
        for name, major, minor in DEVICES:
            os.mknod(os.path.join(dev, name), 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(os.path.join(dev, name), 0o666)
        os.mkdir(os.path.join(dev, "shm"), 0o1777)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.chmod(os.path.join(dev, "shm"), 0o1777)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", os.path.join(dev, name))
    os.symlink("/proc/self/fd", os.path.join(dev, "fd"))


def setup_mounts(spec, confinement):
    root = spec["rootfs"]
    # Nothing we mount may propagate back to the host.
    mount("none", "/", "", MS_REC | MS_PRIVATE)
    mount(root, root, "", MS_BIND | MS_REC)      # pivot_root needs a mount point
    security.remount(root, confinement.mount_flags)
    security.isolate_store(spec.get("store_dirs"), root)
    proc = Target(root, "/proc", make_dir=True)
    proc.mount("proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    proc.close()
    if confinement.confine_fs:
        security.confine_proc(proc.path)
    setup_dev(root, confinement)
    mount_volumes(root, spec.get("mounts", []), confinement)


def mount_volumes(root, mounts, confinement):
    """Binds and tmpfs in order (a later target may lie on an earlier one)."""
    # Every target is opened without following symlinks and mounted by
    # descriptor (Target): a volume shared with a running container cannot
    # swap a component for a symlink between the check and the mount
    # (runc's CVE-2021-30465).
    for m in mounts:
        if m["kind"] == "tmpfs":
            target = Target(root, m["target"], make_dir=True)
            target.mount("tmpfs", "tmpfs", m.get("flags", MS_NOSUID | MS_NODEV), m.get("data", "mode=1777"))
            target.close()
            continue
        is_dir = os.path.isdir(m["source"])
        target = Target(root, m["target"], make_dir=is_dir, make_file=not is_dir)
        top = target.mount(m["source"], "", MS_BIND | MS_REC)
        if m.get("readonly"):
            security.readonly_recursive(target.path, confinement.mount_flags, via=top)
        elif confinement.mount_flags:
            security.remount(top, confinement.mount_flags)
        target.close()


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_executable(name, path):
    """execvp's search, done by hand: after chroot the interpreter cannot
    import the modules os.execvpe would load lazily."""
    if "/" in name:
        return name
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            raise PermissionError(errno.EACCES, "permission denied")
    raise FileNotFoundError(errno.ENOENT, name)


MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


def pivot_into(root):
    """Make root our / and drop every host mount from this namespace, so the
    container holds no reference to other filesystems (ZFS could not destroy
    another container's clone while a copy of its mount lived on here)."""
    nr = SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        os.chroot(root)         # unknown architecture: fall back to chroot
        return
    os.chdir(root)
    if _libc.syscall(nr, b".", b".") != 0:
        die(125, f"pivot_root {root}: {os.strerror(ctypes.get_errno())}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        die(125, f"detaching the host root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")


def enter(spec, confinement):
    """Switch root, then user and directory, then exec."""
    # uid, gid and groups were looked up by the driver (jocker/containers/identity.py).
    pivot_into(spec["rootfs"])
    env = dict(e.split("=", 1) for e in spec.get("env", []) if "=" in e)
    ids = (spec.get("uid", 0), spec.get("gid", 0), spec.get("groups", [0]))
    exec_argv(spec["argv"], env, ids, spec.get("workdir") or "/", confinement)


def exec_argv(argv, env, ids, workdir, confinement):
    """Inside the container's root: groups and ids (uid, gid, groups; None
    for root) with the confinement around them, the directory, then exec
    (`exec` comes here too, through nsexec.py)."""

    def switch_user():
        uid, gid, groups = ids or (0, 0, [0])
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        return uid != 0

    # Capabilities, no_new_privs and seccomp around the user switch.
    confinement.apply(switch_user)
    try:
        os.chdir(workdir)
    except OSError as e:
        die(126, f"cannot change to working directory {workdir}: {e.strerror}")
    try:
        os.execve(find_executable(argv[0], env.get("PATH", DEFAULT_PATH)), argv, env)
    except FileNotFoundError:
        die(127, f'exec: "{argv[0]}": executable file not found in $PATH')
    except PermissionError:
        die(126, f'exec: "{argv[0]}": permission denied')
    except OSError as e:
        die(126 if e.errno in (errno.ENOEXEC, errno.EACCES) else 127, f'exec: "{argv[0]}": {e.strerror}')


def make_console(root, sock_fd):
    """Allocate the terminal inside the container's own devpts (so `tty` and
    ttyname() see /dev/pts/N), hand the master to the supervisor over the
    inherited socket, and make the slave our controlling terminal."""
    import fcntl
    import struct
    TIOCSPTLCK, TIOCGPTN, TIOCSCTTY = 0x40045431, 0x80045430, 0x540E
    master = os.open(os.path.join(root, "dev/pts/ptmx"), os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(os.path.join(root, f"dev/pts/{n}"), os.O_RDWR | os.O_NOCTTY)
    sock = socket.socket(fileno=sock_fd)
    socket.send_fds(sock, [b"console"], [master])
    sock.close()
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def loopback_up():
    """--network none: unshare gave us an empty network stack whose `lo` is
    down; bring it up (the kernel then gives it 127.0.0.1 and ::1). Two
    ioctls instead of a named netns and two `ip` commands per start."""
    import fcntl
    import struct
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", req)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def set_parent_death_signal():
    """Die with our parent (the supervisor's child): no orphaned containers."""
    PR_SET_PDEATHSIG = 1
    _libc.prctl(PR_SET_PDEATHSIG, 9)


def main():
    run(sys.argv[1])


def run(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    # unshare(1) ran us with CLONE_NEWPID: our first child is PID 1 of the new
    # namespace. We stay outside it, wait, and exit with its exact status
    # (128+N when a signal killed it), which unshare --fork cannot always do.
    # The child's pivot_root moves our root too (we share the mount namespace,
    # and must: it is what drops the host's mounts from it), so reach the run
    # directory through a descriptor opened before.
    rundir_fd = os.open(spec["rundir"], os.O_RDONLY | os.O_DIRECTORY)
    child = os.fork()
    if child == 0:
        try:
            set_parent_death_signal()
            confinement = security.Confinement(spec.get("security"))
            if spec.get("hostname"):
                socket.sethostname(spec["hostname"])
            if spec.get("loopback_up"):
                loopback_up()
            setup_mounts(spec, confinement)
            # Docker creates a missing working directory (owned by root).
            safe_path(spec["rootfs"], spec.get("workdir") or "/", make_dir=True)
            if spec.get("console_fd") is not None:
                make_console(spec["rootfs"], int(spec["console_fd"]))
            enter(spec, confinement)
        except BaseException as e:      # never a traceback, never a silent 125
            die(125, str(e) or type(e).__name__)
        os._exit(127)
    # A standalone script (no package imports): INIT_PID is jocker.rundir.INIT_PID,
    # which tests/unit/test_supervisor_closure.py keeps equal.
    fd = os.open(INIT_PID + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=rundir_fd)
    os.write(fd, str(child).encode())
    os.close(fd)
    os.rename(INIT_PID + ".tmp", INIT_PID, src_dir_fd=rundir_fd, dst_dir_fd=rundir_fd)
    os.close(rundir_fd)
    exit_like(child)


def exit_like(child):
    """Wait for child and exit with its exact status (128+N for a signal)."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
