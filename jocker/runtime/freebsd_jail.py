"""The FreeBSD runtime driver: one persistent jail per container.

It carries out the plan from jail_plan (pure) through the runner: a
generated jail.conf + fstab per container, `jail -f CONF -c`, the main
process via jexec (so the supervisor keeps its exit code), rctl limits, and
`jail -f CONF -r` for removal so jail(8) unmounts what it mounted
(reference/freebsd.md 1.5, 1.8, 11). Items marked [U] need a FreeBSD host
to confirm.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat

from ..atomic import write_atomic
from ..envvars import env_dict
from ..lock import EngineLock
from ..errors import Conflict, HostCommandError, JockerError, UsageError
from ..runner import Runner, default_runner
from . import jail_plan as jp
from .base import ProcessCommand, RuntimeDriver
from .spec import ContainerSpec

log = logging.getLogger("jocker.runtime.jail")

RACCT_MSG = ("resource limits need racct: add kern.racct.enable=1 to "
             "/boot/loader.conf and reboot")
PROBE_JAIL = "jk_probe_nonexistent"
ROOT_USERS = ("", "root", "0", "0:0", "root:wheel", "root:0")

# Host capabilities, probed at most once per process (never at import time).
_PROBES: dict[str, bool] = {}


def reset_probes() -> None:
    """Forget probed capabilities (tests; after a host upgrade)."""
    _PROBES.clear()


# ---------------------------------------------------------------- safe rootfs access
# The rootfs comes from an image, so any component may be a symlink that
# points at the host. Walk it one component at a time relative to a
# directory fd, never following symlinks.

_SYMLINK_ERRNOS = (errno.ELOOP, errno.EMLINK)   # Linux ELOOP, FreeBSD EMLINK for O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _refuse(path: str, shown: str, why: str) -> JockerError:
    return JockerError(f"container path {path!r}: {shown} {why}; refusing to follow it")


def _walk(root: str, parts: list[str], *, create: bool, path: str) -> int:
    """Open the directory root/parts... and return its fd (caller closes)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                shown = "/" + "/".join(parts[:i + 1])
                if e.errno in _SYMLINK_ERRNOS or _is_link(part, fd):
                    raise _refuse(path, shown, "is a symlink inside the container") from None
                if e.errno == errno.ENOTDIR:
                    raise _refuse(path, shown, "is not a directory") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _parts(path: str) -> list[str]:
    return [p for p in jp.container_path(path, "container path").split("/") if p]


def ensure_dir_nofollow(root: str, path: str) -> None:
    """mkdir -p root/path inside the rootfs without following any symlink."""
    os.close(_walk(root, _parts(path), create=True, path=path))


def ensure_file_nofollow(root: str, path: str) -> None:
    """Create an empty regular file at root/path (a single-file mount target)."""
    parts = _parts(path)
    fd = _walk(root, parts[:-1], create=True, path=path)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            ffd = os.open(parts[-1], flags, 0o644, dir_fd=fd)
        except OSError as e:
            if e.errno in _SYMLINK_ERRNOS or _is_link(parts[-1], fd):
                raise _refuse(path, path, "is a symlink inside the container") from None
            if e.errno == errno.EISDIR:
                raise _refuse(path, path, "is a directory but the mount source is a file") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(ffd).st_mode):
                raise _refuse(path, path, "is not a regular file")
        finally:
            os.close(ffd)
    finally:
        os.close(fd)


def read_file_nofollow(root: str, path: str, limit: int = 1 << 20) -> str | None:
    """Text of root/path if it is a regular file reached without symlinks, else None."""
    parts = _parts(path)
    try:
        fd = _walk(root, parts[:-1], create=False, path=path)
    except (OSError, JockerError):
        return None
    try:
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    with os.fdopen(ffd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit).decode("utf-8", "replace")


def exists_nofollow(root: str, path: str) -> bool:
    """Whether root/path exists (any type), its parent reached without symlinks."""
    parts = _parts(path)
    try:
        fd = _walk(root, parts[:-1], create=False, path=path)
    except (OSError, JockerError):
        return False
    try:
        os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the driver

class JailDriver(RuntimeDriver):
    name = "jail"

    def __init__(self, runner: Runner | None = None, config: jp.JailConfig | None = None):
        self.runner = runner or default_runner()
        self.config = config or jp.JailConfig()

    # ---- probes

    def racct_enabled(self) -> bool:
        if "racct" not in _PROBES:
            # a kernel without RACCT has no such sysctl: same answer as 0
            res = self.runner.run(jp.racct_command(), check=False)
            _PROBES["racct"] = res.returncode == 0 and res.stdout.strip() == "1"
        return _PROBES["racct"]

    def jexec_has_workdir_flag(self) -> bool:
        """`jexec -d` is in the current man page only [U: first release].

        Probe against a jail that does not exist: a jexec without -d fails
        in getopt with a usage message, one with -d fails looking up the jail.
        """
        if "jexec_d" not in _PROBES:
            res = self.runner.run([jp.JEXEC, "-d", "/", PROBE_JAIL, "/usr/bin/true"], check=False)
            err = res.stderr.lower()
            _PROBES["jexec_d"] = not ("usage:" in err or "illegal option" in err)
        return _PROBES["jexec_d"]

    # ---- devfs rulesets

    def prepare_host(self) -> None:
        """(Re)build jocker's own rulesets: base, and base + pf for VNET."""
        self._check_stock_rulesets()
        cfg = self.config
        self._build_ruleset(cfg.base_ruleset, jp.ruleset_commands(cfg.base_ruleset))
        self._build_ruleset(cfg.vnet_ruleset, jp.ruleset_commands(cfg.vnet_ruleset, vnet=True))

    def _check_stock_rulesets(self) -> None:
        # Our rulesets only `include 1` (hide all): if the stock rulesets were
        # never loaded, that include hides nothing.
        if not self.runner.run(jp.ruleset_show_command(1)).stdout.strip():
            raise JockerError("devfs ruleset 1 (devfsrules_hide_all) is not loaded",
                              hint="run `service devfs restart`")

    def _build_ruleset(self, number: int, commands: list[list[str]]) -> None:
        # delset of a ruleset that does not exist yet is expected to be a no-op [U]
        self.runner.run(commands[0], check=False)
        for argv in commands[1:]:
            self.runner.run(argv)
        self._verify_ruleset(number)

    def _verify_ruleset(self, number: int) -> None:
        # an empty (never loaded) ruleset exposes every host device (reference 2.2)
        if not self.runner.run(jp.ruleset_show_command(number)).stdout.strip():
            raise JockerError(f"devfs ruleset {number} is empty; refusing to start a "
                              "container that would see every host device",
                              hint="run `jocker` host setup (prepare_host) again")

    def _ensure_base_ruleset(self, number: int) -> None:
        if not self.runner.run(jp.ruleset_show_command(number)).stdout.strip():
            log.info("devfs ruleset %d missing (reboot?); rebuilding it", number)
            self._check_stock_rulesets()
            self._build_ruleset(number, jp.ruleset_commands(number))

    def _allocate_device_ruleset(self, spec: ContainerSpec) -> int:
        """A per-container ruleset for --device (rulesets are global)."""
        record = jp.ruleset_record_path(spec.rundir)
        lock = os.path.join(os.path.dirname(spec.rundir.rstrip("/")), "devfs-rulesets.lock")
        with EngineLock(lock).held():
            if os.path.exists(record):             # left by a crashed start, or still in use?
                if self.jail_exists(jp.jail_name(spec.id)):
                    raise Conflict(f"jail {jp.jail_name(spec.id)} already exists")
                self._release_device_ruleset(spec)
            in_use = jp.parse_showsets(self.runner.run(jp.showsets_command()).stdout)
            number = jp.pick_device_ruleset(spec.id, self.config, in_use)
            write_atomic(record, f"{number}\n")   # before building: destroy can clean up
            try:
                self._check_stock_rulesets()
                self._build_ruleset(number, jp.ruleset_commands(number, spec.devices))
            except BaseException:
                self._release_device_ruleset(spec)
                raise
        return number

    def _release_device_ruleset(self, spec: ContainerSpec) -> None:
        record = jp.ruleset_record_path(spec.rundir)
        try:
            with open(record, encoding="utf-8") as f:
                number = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return
        lo, hi = self.config.device_rulesets
        if lo <= number <= hi:   # never delete a ruleset outside jocker's range
            self.runner.run(jp.ruleset_delete_command(number), check=False)
        os.unlink(record)

    # ---- create

    def create(self, spec: ContainerSpec) -> None:
        draft = jp.plan(spec, self.config)         # validate everything before touching the host
        if draft.rctl_add and not self.racct_enabled():
            raise JockerError(RACCT_MSG)
        os.makedirs(spec.rundir, mode=0o700, exist_ok=True)
        if not spec.devices:
            self._ensure_base_ruleset(self.config.base_ruleset)
        device_ruleset = self._allocate_device_ruleset(spec) if spec.devices else None
        try:
            plan = jp.plan(spec, self.config, device_ruleset=device_ruleset)
            self._write_files(plan)
            self._make_targets(spec, plan)
            self.runner.run(jp.jail_create_command(plan.conf_path, plan.name))
        except BaseException:
            if device_ruleset is not None:     # only what this call allocated
                self._release_device_ruleset(spec)
            raise
        try:
            self.runner.run(jp.applyset_command(spec.rootfs, plan.devfs_ruleset))
            for argv in plan.rctl_add:
                self.runner.run(argv)
        except BaseException:
            self._undo_create(spec)
            raise

    def _undo_create(self, spec: ContainerSpec) -> None:
        """Best-effort removal after a failed create; the original error wins."""
        try:
            self.destroy(spec)
        except (JockerError, OSError) as e:
            log.warning("cleanup of %s after a failed create failed: %s", spec.short_id, e)

    def _write_files(self, plan: jp.JailPlan) -> None:
        if plan.fstab_path and plan.fstab_text is not None:
            write_atomic(plan.fstab_path, plan.fstab_text)
        write_atomic(plan.conf_path, plan.conf_text)

    def _make_targets(self, spec: ContainerSpec, plan: jp.JailPlan) -> None:
        root = spec.rootfs
        for target in plan.mount_targets:
            if isinstance(target, str):
                ensure_dir_nofollow(root, target)
                continue
            src = target.host_source
            if src is not None and not os.path.exists(src):
                raise UsageError(f"mount source {src!r} does not exist")
            if src is not None and not os.path.isdir(src):
                ensure_file_nofollow(root, target.target)   # single-file nullfs [U on 14.x]
            else:
                ensure_dir_nofollow(root, target.target)

    # ---- processes

    def _jail_user(self, root: str, user: str) -> str | None:
        if user in ROOT_USERS:
            return None
        return jp.resolve_user(user, read_file_nofollow(root, "/etc/passwd"),
                               read_file_nofollow(root, "/etc/group"))

    def _command(self, spec: ContainerSpec, argv: list[str], user: str, workdir: str,
                 env: dict[str, str]) -> ProcessCommand:
        jail_user = self._jail_user(spec.rootfs, user)
        needs_d = workdir not in ("", "/")
        return jp.jexec_command(
            jp.jail_name(spec.id), argv, jail_user=jail_user, workdir=workdir or "/",
            env=env, has_workdir_flag=needs_d and self.jexec_has_workdir_flag(),
            env_wrapper=bool(jail_user) and exists_nofollow(spec.rootfs, jp.ENV_BIN),
        )

    def main_command(self, spec: ContainerSpec) -> ProcessCommand:
        return self._command(spec, spec.argv, spec.user, spec.workdir or "/",
                             env_dict(spec.env))

    def exec_command(self, spec: ContainerSpec, argv: list[str], *, user: str, workdir: str,
                     env: list[str], tty: bool, main_pid: int | None) -> ProcessCommand:
        # Docker's exec defaults to the container's user and workdir; env adds to the container's.
        return self._command(spec, argv, user or spec.user, workdir or spec.workdir or "/",
                             env_dict(spec.env, env))

    def _jail_query(self, argv: list[str]):
        """pkill/pgrep: exit 1 = nothing matched; 2 + 'Invalid jail' = jail gone [I pkill.c]."""
        res = self.runner.run(argv, check=False)
        if res.returncode in (0, 1):
            return res
        if res.returncode == 2 and "invalid jail" in res.stderr.lower():
            res.stdout = ""
            return res
        raise HostCommandError(argv, res.returncode, res.stderr)

    def signal_all(self, spec: ContainerSpec, signum: int, main_pid: int | None) -> None:
        self._jail_query(jp.signal_command(jp.jail_name(spec.id), signum))

    def pids(self, spec: ContainerSpec, main_pid: int | None) -> list[int]:
        return jp.parse_pids(self._jail_query(jp.pids_command(jp.jail_name(spec.id))).stdout)

    # ---- destroy

    def jail_exists(self, name: str) -> bool:
        res = self.runner.run(jp.jail_exists_command(name), check=False)
        if res.returncode == 0:
            return True
        if "not found" in res.stderr:
            return False
        raise HostCommandError(jp.jail_exists_command(name), res.returncode, res.stderr)

    def _usable_conf(self, spec: ContainerSpec) -> str | None:
        """The generated conf, unless it or its fstab is gone (jail(8) would fail)."""
        conf = jp.conf_path(spec.rundir)
        try:
            with open(conf, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        if re.search(r"^\s*mount\.fstab\s*=", text, re.M) and \
                not os.path.exists(jp.fstab_path(spec.rundir)):
            return None
        return conf

    def destroy(self, spec: ContainerSpec) -> None:
        name = jp.jail_name(spec.id)
        if self.jail_exists(name):
            argv = jp.jail_remove_command(self._usable_conf(spec), name)
            res = self.runner.run(argv, check=False, retry_busy=True)
            if res.returncode != 0 and self.jail_exists(name):
                raise HostCommandError(argv, res.returncode, res.stderr)
        if self.racct_enabled():
            res = self.runner.run(jp.rctl_remove_command(name), check=False)
            if res.returncode != 0:
                log.warning("rctl -r jail:%s failed: %s", name, res.stderr.strip())
        mounts = self.runner.run(jp.mount_list_command()).stdout
        for point in jp.leftover_mounts(mounts, spec.rootfs):
            self.runner.run(jp.umount_command(point), retry_busy=True)
        self._release_device_ruleset(spec)
