"""Carry out a security plan (security.py) inside a Linux container: the
workbench's stand-in for what jail(8) refuses a jail's root on FreeBSD.

nsinit.py calls two entry points: `confine_mounts` while it builds the
container's mounts (before pivot_root, the host's /dev is still visible), and
`confine_process` instead of a bare user switch, just before exec:

* /proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs read-only
  and /proc/kcore, /proc/keys, /proc/timer_list, ... masked, as Docker does;
* the root and volumes mounted nodev, so a device node made with CAP_MKNOD
  cannot be opened (Docker's device cgroup does that job there);
* the bounding set cut to the plan, ambient and inheritable sets empty,
  permitted and effective equal to the plan for root (Docker >= 23, after
  CVE-2022-24769), and empty for other users as the kernel does on setuid;
* no_new_privs unless the plan says otherwise;
* a seccomp filter through Debian's libseccomp (libseccomp2, loaded with
  ctypes: no Python binding to install): the syscalls Docker's default
  profile refuses get EPERM, unless the capability that Docker's profile
  ties them to was added. Docker's profile is an allow list; this is the
  same filter written as the list of what it refuses, so a syscall newer
  than this list is allowed rather than refused.

Stdlib only, importable by path like nsinit.py.
"""

import ctypes
import errno
import os

try:
    from .mountinfo import mount_table
except ImportError:             # run by path (nsinit.py, nsexec.py): this directory is sys.path[0]
    from mountinfo import mount_table

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
_libc = ctypes.CDLL(None, use_errno=True)

MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# The device nodes a container gets: bind mounts of the host's own, so /dev
# itself can be nodev (a node made there by mknod cannot be opened).
STANDARD_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class SecurityError(Exception):
    pass


def _mount(src, target, fstype, flags, data=None):
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise SecurityError(f"mount {src} on {target}: {os.strerror(e)}")


def _remount_ro(path, extra=0):
    _mount(path, path, "", MS_BIND | MS_REC)
    _mount("none", path, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | extra)


DEV_FLAGS, DEV_DATA = MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=65536k"


def setup_devices(dev, mount_dev=None):
    """/dev as a nodev,noexec tmpfs holding bind mounts of the host's
    standard nodes; mount_dev() mounts that tmpfs (nsinit does it by
    descriptor), the nodes then go into the fresh tmpfs by name."""
    if mount_dev:
        mount_dev()
    else:
        _mount("tmpfs", dev, "tmpfs", DEV_FLAGS, DEV_DATA)
    for name in STANDARD_DEVICES:
        target = os.path.join(dev, name)
        open(target, "a").close()
        _mount(f"/dev/{name}", target, "", MS_BIND)
        _mount("none", target, "", MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC)
    shm = os.path.join(dev, "shm")
    os.mkdir(shm, 0o1777)
    _mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")


def confine_proc(proc):
    """Docker's masked and read-only /proc paths, below the container's /proc."""
    null = None
    for path in MASKED_PATHS:
        target = os.path.join(proc, path[len("/proc/"):])
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
        elif os.path.exists(target):
            null = null or "/dev/null"
            _mount(null, target, "", MS_BIND)
    for path in READONLY_PATHS:
        target = os.path.join(proc, path[len("/proc/"):])
        if os.path.exists(target):
            _remount_ro(target)


def remount(path, flags, readonly=False):
    """Set a bind mount's flags (replacing the host mount's: clones are
    nosuid on the host, and get setuid back only where it can work)."""
    _mount("none", path, "", MS_BIND | MS_REMOUNT | flags | (MS_RDONLY if readonly else 0))


# --- the mounts of binds -------------------------------------------------------

MS_UNBINDABLE = 1 << 17
SYS_MOUNT_SETATTR = 442                 # the same number on every architecture
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_points(path="/proc/self/mountinfo"):
    """Every mount point; an unreadable table raises (never read as empty:
    readonly_recursive would then leave submounts writable)."""
    return [mp for mp, _fstype, _source in mount_table(path, missing_ok=False)]


def _below(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def isolate_store(store_dirs, own_root):
    """Make the other containers' and layers' mounts in this namespace
    unbindable, so `-v /:/host` (a recursive bind) does not copy them: a
    copy would keep their clones busy and undestroyable."""
    for mp in mount_points():
        if any(_below(mp, d) and mp != d for d in store_dirs or ()) and not _below(mp, own_root):
            if _libc.mount(None, mp.encode(), None, ctypes.c_ulong(MS_UNBINDABLE), None) != 0:
                raise SecurityError(f"making {mp} unbindable: {os.strerror(ctypes.get_errno())}")


def readonly_recursive(target, flags, via=None):
    """Make a recursive bind read-only with everything mounted below it
    (mount_setattr with AT_RECURSIVE, Linux >= 5.12). Without it, refuse a
    tree that has submounts: remounting only the top would leave them
    writable. `via` (a /proc/self/fd path of the mount's root) is what the
    syscalls act on when given; `target` names it in mountinfo and errors."""
    where = via or target
    attr = _MountAttr(MOUNT_ATTR_RDONLY | (MOUNT_ATTR_NODEV if flags & MS_NODEV else 0)
                      | (MOUNT_ATTR_NOSUID if flags & MS_NOSUID else 0), 0, 0, 0)
    rc = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, where.encode(), AT_RECURSIVE,
                       ctypes.byref(attr), ctypes.sizeof(attr))
    if rc == 0:
        return
    e = ctypes.get_errno()
    if e not in (errno.ENOSYS, errno.EPERM):
        raise SecurityError(f"read-only bind on {target}: {os.strerror(e)}")
    subs = [mp for mp in mount_points() if _below(mp, target) and mp != target]
    if subs:
        raise SecurityError(f"cannot bind {target} read-only: {subs[0]} is mounted below it and this "
                            "kernel lacks mount_setattr(2) to make submounts read-only too; "
                            "bind the submounts separately or drop :ro")
    remount(where, flags, readonly=True)


# --- capabilities -----------------------------------------------------------

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def drop_bounding(mask):
    for cap in range(_last_cap() + 1):
        if not mask >> cap & 1 and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            e = ctypes.get_errno()
            if e != errno.EINVAL:           # EINVAL: a capability this kernel lacks
                raise SecurityError(f"dropping capability {cap}: {os.strerror(e)}")


def set_capabilities(mask):
    """Permitted and effective = mask, inheritable and ambient empty."""
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)   # EINVAL before 4.3: none to clear
    hdr = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = mask >> (32 * i) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
        data[i].inheritable = 0
    if _libc.capset(ctypes.byref(hdr), data) != 0:
        raise SecurityError(f"capset: {os.strerror(ctypes.get_errno())}")


def set_no_new_privs():
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SecurityError(f"no_new_privs: {os.strerror(ctypes.get_errno())}")


# --- seccomp ------------------------------------------------------------------

# Refused unless the capability in the key was added (Docker ties them so).
SYSCALLS_BY_CAPABILITY = {
    "SYS_ADMIN": ("mount", "umount", "umount2", "unshare", "setns", "pivot_root", "quotactl",
                  "quotactl_fd", "lookup_dcookie", "fanotify_init", "fsopen", "fsconfig",
                  "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "swapon",
                  "swapoff", "vm86", "vm86old", "name_to_handle_at"),
    "SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "SYS_MODULE": ("init_module", "finit_module", "delete_module"),
    "SYS_RAWIO": ("iopl", "ioperm"),
    "SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    "SYS_PACCT": ("acct",),
    "SYS_NICE": ("mbind", "set_mempolicy", "get_mempolicy", "move_pages"),
    "SYSLOG": ("syslog",),
    "SYS_TTY_CONFIG": ("vhangup",),
    "DAC_READ_SEARCH": ("open_by_handle_at",),
    "BPF": ("bpf",),
    "PERFMON": ("perf_event_open",),
}
# Refused whatever the capabilities (obsolete, or kernel keyring and
# userfaultfd, which Docker's profile never allows).
ALWAYS_REFUSED = ("add_key", "keyctl", "request_key", "userfaultfd", "uselib", "ustat", "sysfs",
                  "_sysctl", "create_module", "get_kernel_syms", "query_module", "nfsservctl",
                  "afs_syscall", "io_uring_setup", "io_uring_enter", "io_uring_register")
# clone(2) flags that make namespaces: refused without SYS_ADMIN.
NAMESPACE_FLAGS = (0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                   0x02000000)
S_IFMT, S_IFCHR, S_IFBLK = 0o170000, 0o020000, 0o060000

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_CTL_NNP = 3
SCMP_CMP_MASKED_EQ = 7


def _errno_action(e):
    return 0x00050000 | (e & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def libseccomp():
    """The library, or None where it is missing (then seccomp=default is refused)."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def refused_syscalls(caps):
    """Names the filter refuses with EPERM for a container holding caps."""
    out = list(ALWAYS_REFUSED)
    for cap, names in SYSCALLS_BY_CAPABILITY.items():
        if cap not in caps and not (cap in ("BPF", "PERFMON") and "SYS_ADMIN" in caps):
            out.extend(names)
    return out


def build_seccomp(caps):
    """The filter context (loaded later by load_seccomp). Built while the
    host's libraries are still reachable: after pivot_root they are not."""
    lib = libseccomp()
    if lib is None:
        raise SecurityError("the default seccomp filter needs libseccomp (apt-get install libseccomp2); "
                            "or run with --security-opt seccomp=unconfined")
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SecurityError("seccomp_init failed")
    lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)   # no_new_privs is the plan's, not libseccomp's
    if os.uname().machine == "x86_64":      # 32-bit syscalls get the same filter
        for arch in (b"x86", b"x32"):
            token = lib.seccomp_arch_resolve_name(arch)
            if token:
                lib.seccomp_arch_add(ctx, token)
    eperm = _errno_action(errno.EPERM)

    def rule(name, action, *cmps):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return                          # not a syscall on this architecture
        arr = (_ArgCmp * max(1, len(cmps)))(*cmps)
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0 and rc != -errno.EEXIST:
            raise SecurityError(f"seccomp rule for {name}: {os.strerror(-rc)}")

    for name in refused_syscalls(caps):
        rule(name, eperm)
    if "SYS_ADMIN" not in caps:
        for flag in NAMESPACE_FLAGS:
            rule("clone", eperm, _ArgCmp(0, SCMP_CMP_MASKED_EQ, flag, flag))
        # clone3 passes its flags in memory a filter cannot read: ENOSYS
        # makes the C library fall back to clone(2), as under Docker.
        rule("clone3", _errno_action(errno.ENOSYS))
    if "MKNOD" in caps:
        # No device cgroup here: refuse device nodes (FIFOs and sockets stay allowed).
        for kind in (S_IFCHR, S_IFBLK):
            rule("mknod", eperm, _ArgCmp(1, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
            rule("mknodat", eperm, _ArgCmp(2, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
    return lib, ctx


# Filters already made, as the kernel's BPF program, by capability set: the
# fork-server makes Docker's default one once (prepare_default_filter), and
# every container forked below it loads it with one syscall instead of
# building it rule by rule through libseccomp on each start.
_PROGRAMS = {}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_program(caps):
    """The filter for a container holding caps, as BPF bytes (struct
    sock_filter[]), made once per capability set by libseccomp itself."""
    key = tuple(sorted(caps))
    prog = _PROGRAMS.get(key)
    if prog is None:
        lib, ctx = build_seccomp(caps)
        try:
            lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
            # A pipe, not a memfd (which some kernels refuse by policy): a
            # filter is at most 4096 instructions of 8 bytes (32 KiB), below
            # a pipe's default 64 KiB buffer, so the export does not block on
            # its reader (Docker's default profile here: ~1.6 KiB).
            r, w = os.pipe()
            try:
                rc = lib.seccomp_export_bpf(ctx, w)
                os.close(w)
                w = -1
                if rc < 0:
                    raise SecurityError(f"exporting the seccomp filter: {os.strerror(-rc)}")
                chunks = []
                while True:
                    chunk = os.read(r, 65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                prog = b"".join(chunks)
            finally:
                os.close(r)
                if w >= 0:
                    os.close(w)
        finally:
            lib.seccomp_release(ctx)
        if not prog or len(prog) % 8:
            raise SecurityError("libseccomp exported no usable filter")
        _PROGRAMS[key] = prog
    return prog


def load_program(prog):
    """Install a BPF program as this process's filter: what seccomp_load()
    does with the same program (no TSYNC, no logging flags). Needs
    no_new_privs or CAP_SYS_ADMIN, which the process still has here."""
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise SecurityError(f"loading the seccomp filter: {os.strerror(ctypes.get_errno())}")


def prepare_default_filter(caps):
    """Make the default profile's filter ahead (the fork-server, before any
    container asks); where it cannot be made, each start says why."""
    if kernel_has_seccomp():
        try:
            seccomp_program(caps)
        except (SecurityError, OSError, AttributeError):
            pass


def kernel_has_seccomp():
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


class Confinement:
    """One container's plan, prepared before pivot_root and applied after.

    apply() order matters: dropping from the bounding set needs CAP_SETPCAP,
    loading a filter without no_new_privs needs CAP_SYS_ADMIN, switching
    users needs CAP_SETUID/SETGID; the process keeps them all until the
    final capset."""

    def __init__(self, plan):
        self.plan = plan
        self.confine_fs = bool(plan and plan.get("confine_fs"))
        # Mount flags of the root and volumes: nodev when confined; nosuid
        # too under no_new_privs, where setuid bits are ignored anyway.
        self.mount_flags = 0
        if self.confine_fs:
            self.mount_flags = MS_NODEV | (MS_NOSUID if plan.get("no_new_privs", True) else 0)
        self.program = None
        if plan and not plan.get("privileged") and plan.get("seccomp") == "default" \
                and kernel_has_seccomp():
            self.program = seccomp_program(plan["capabilities"])

    def apply(self, switch_user):
        """switch_user() sets groups and ids and returns True for a non-root user."""
        plan = self.plan
        if not plan or plan.get("privileged"):
            switch_user()
            return
        mask = int(plan["capability_mask"])
        drop_bounding(mask)
        if plan.get("no_new_privs", True):
            set_no_new_privs()
        if self.program:
            load_program(self.program)
        set_capabilities(0 if switch_user() else mask)
