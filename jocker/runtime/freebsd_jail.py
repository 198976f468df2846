"""The FreeBSD runtime driver: one persistent jail per container.

It carries out the plan from jail_plan (pure) through the runner: a
generated jail.conf + fstab per container, `jail -f CONF -c`, rctl limits,
the container's processes through jail_exec (jail_attach + the image's user
+ Docker's exit codes, in the supervisor's own child), and `jail -f CONF -r`
for removal so jail(8) unmounts what it mounted (reference/freebsd.md 1.5,
1.8, 11). Items marked [U] need a FreeBSD host to confirm.

The supervisor imports this module for the container's whole life: no
logging, dataclasses or jinja2 here (tests/unit/test_supervisor_imports.py).
"""

from __future__ import annotations

import json
import os
import sys
import time

from .. import rundir as RD
from ..atomic import write_atomic
from ..envvars import env_dict
from ..errors import CannotRun, CommandNotFound, Conflict, HostCommandError, JockerError, UsageError
from ..lock import EngineLock
from ..host.runner import Runner, default_runner
from . import jail_devfs as devfs
from . import jail_exec
from . import jail_plan as jp
from . import jail_rctl as rctl
from .base import ProcessCommand, RuntimeDriver
from .jail_rootfs import (  # noqa: F401  (tests and callers use them from here)
    ensure_dir_nofollow, ensure_file_nofollow, exists_nofollow, read_file_nofollow)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spec import ContainerSpec

RACCT_MSG = ("resource limits need racct: add kern.racct.enable=1 to "
             "/boot/loader.conf and reboot")
PROCESS_FILE = RD.JAIL_PROCESS     # the main process's plan, written at create
DYING_WAIT = 3.0                 # seconds to wait for a removed jail to finish dying

# Host capabilities, probed at most once per process (never at import time).
_PROBES: dict = {}


def reset_probes() -> None:
    """Forget probed capabilities (tests; after a host upgrade)."""
    _PROBES.clear()


def check_command(rootfs: str, argv: list[str], env: dict[str, str], workdir: str) -> None:
    """Docker's 127/126 before anything is spawned: argv[0] looked up on the
    container's PATH in its rootfs, symlinks resolved as inside the jail
    (the jail exists by now, so its nullfs mounts are visible below rootfs).
    The child checks again after jail_attach (jail_exec.find_executable)."""
    from ..rootfs import resolve_in_root
    name = argv[0] if argv else ""
    if not name:
        raise UsageError("no command specified")
    if "/" in name:
        candidates = [name if name.startswith("/") else workdir.rstrip("/") + "/" + name]
    else:
        path = env.get("PATH", jail_exec.DEFAULT_PATH)
        candidates = [(d or workdir).rstrip("/") + "/" + name for d in path.split(":")]
    denied = False
    for c in candidates:
        host = resolve_in_root(rootfs, c if c.startswith("/") else workdir.rstrip("/") + "/" + c)
        if os.path.isfile(host):
            if os.stat(host).st_mode & 0o111:
                return
            denied = True
    if denied:
        raise CannotRun(f'exec: "{name}": permission denied')
    if "/" in name:
        raise CommandNotFound(f'exec: "{name}": no such file or directory')
    raise CommandNotFound(f'exec: "{name}": executable file not found in $PATH')


class JailDriver(RuntimeDriver):
    name = "jail"
    updates_limits_live = True

    def __init__(self, runner: Runner | None = None, config: jp.JailConfig | None = None,
                 *, err=None):
        self.runner = runner or default_runner()
        self.config = config or jp.JailConfig()
        self.err = err or sys.stderr          # warnings (the supervisor's is its log file)
        self.sleep, self.clock = time.sleep, time.monotonic
        self.dying_wait = DYING_WAIT

    def _warn(self, msg: str) -> None:
        try:
            self.err.write(f"jocker: warning: {msg}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    # ---- probes

    def racct_enabled(self) -> bool:
        if "racct" not in _PROBES:
            # a kernel without RACCT has no such sysctl: same answer as 0
            res = self.runner.run(rctl.racct_command(), check=False)
            _PROBES["racct"] = res.returncode == 0 and res.stdout.strip() == "1"
        return _PROBES["racct"]

    def allow_names(self) -> frozenset:
        """allow.* parameters this kernel registers, from `sysctl -N`."""
        if "allow" not in _PROBES:
            res = self.runner.run(jp.allow_command())
            _PROBES["allow"] = jp.parse_allow(res.stdout)
        return _PROBES["allow"]

    def physmem(self) -> int | None:
        if "physmem" not in _PROBES:
            res = self.runner.run(jp.physmem_command(), check=False)
            out = res.stdout.strip()
            _PROBES["physmem"] = int(out) if res.returncode == 0 and out.isdigit() else None
        return _PROBES["physmem"]

    # ---- devfs rulesets (never emptied while in use: jail_devfs)

    def prepare_host(self) -> None:
        """Bring jocker's own rulesets (base, and base + pf for VNET) up to date."""
        cfg = self.config
        with EngineLock(cfg.lock_path).held():
            self._check_admin_rulesets()
            self._sync_ruleset(cfg.base_ruleset, devfs.wanted_rules())
            self._sync_ruleset(cfg.vnet_ruleset, devfs.wanted_rules(vnet=True))

    def _admin_rulesets(self) -> set:
        try:
            with open(self.config.devfs_rules, encoding="utf-8", errors="replace") as f:
                return devfs.admin_rulesets(f.read())
        except OSError:
            return set()

    def _check_admin_rulesets(self) -> None:
        cfg = self.config
        clash = sorted({cfg.base_ruleset, cfg.vnet_ruleset} & self._admin_rulesets())
        if clash:
            raise JockerError(f"devfs ruleset {clash[0]} is defined in {cfg.devfs_rules}; "
                              "jocker will not change an admin's ruleset",
                              hint="set devfs_ruleset in jocker.conf to a free number")

    def _check_stock_rulesets(self) -> None:
        # Our rulesets include 1 (hide all), 2 and 3: a stock ruleset that was
        # never loaded is empty, and including it hides (or unhides) nothing.
        for n in devfs.STOCK_RULESETS:
            if not self.runner.run(devfs.show_command(n)).stdout.strip():
                raise JockerError(f"devfs ruleset {n} (from /etc/defaults/devfs.rules) is not loaded",
                                  hint="run `service devfs restart`")

    def _sync_ruleset(self, number: int, wanted: list) -> None:
        """Add what is missing, delete what is not wanted; the caller holds the lock."""
        current = devfs.parse_show(self.runner.run(devfs.show_command(number)).stdout)
        cmds = devfs.sync_commands(number, wanted, current)
        if not cmds:
            return
        self._check_stock_rulesets()
        for argv in cmds:
            self.runner.run(argv)
        # an empty (never loaded) ruleset exposes every host device (reference 2.2)
        if not self.runner.run(devfs.show_command(number)).stdout.strip():
            raise JockerError(f"devfs ruleset {number} is empty; refusing to start a "
                              "container that would see every host device",
                              hint="run `jocker system prepare` again")

    def _allocate_device_ruleset(self, spec: ContainerSpec) -> int:
        """A per-container ruleset for --device (rulesets are global)."""
        record = jp.ruleset_record_path(spec.rundir)
        with EngineLock(self.config.lock_path).held():
            if os.path.exists(record):             # left by a crashed start, or still in use?
                if self.jail_exists(jp.jail_name(spec.id)):
                    raise Conflict(f"jail {jp.jail_name(spec.id)} already exists")
                self._release_device_ruleset(spec)
            in_use = devfs.parse_showsets(self.runner.run(devfs.showsets_command()).stdout)
            number = devfs.pick_device_ruleset(spec.id, *self.config.device_rulesets,
                                               in_use | self._admin_rulesets())
            write_atomic(record, f"{number}\n")   # before building: destroy can clean up
            try:
                self._sync_ruleset(number, devfs.wanted_rules(spec.jail.devices))
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
            self.runner.run(devfs.delete_command(number), check=False)
        os.unlink(record)

    def _net(self):
        from ..net.freebsd import FreeBSDNetworkDriver
        return FreeBSDNetworkDriver(self.runner)

    # ---- create

    def _plan(self, spec: ContainerSpec, device_ruleset: int | None = None) -> jp.JailPlan:
        needs_ram = spec.limits.memory is None and any(m.kind == "tmpfs" for m in spec.mounts)
        return jp.plan(spec, self.config, device_ruleset=device_ruleset,
                       known_allow=self.allow_names(),
                       physmem=self.physmem() if needs_ram else None)

    def create(self, spec: ContainerSpec) -> None:
        draft = self._plan(spec)                   # validate everything before touching the host
        if draft.rctl_add and not self.racct_enabled():
            raise JockerError(RACCT_MSG)
        identity = self._identity(spec.rootfs, spec.user, spec.group_add)
        os.makedirs(spec.rundir, mode=0o700, exist_ok=True)
        if not spec.jail.devices:
            with EngineLock(self.config.lock_path).held():
                self._sync_ruleset(self.config.base_ruleset, devfs.wanted_rules())
        device_ruleset = self._allocate_device_ruleset(spec) if spec.jail.devices else None
        try:
            plan = self._plan(spec, device_ruleset)
            self._write_files(plan)
            self._make_targets(plan)
            self._net().setup(spec.net)        # epairs, before vnet.interface moves them
            self.runner.run(jp.jail_create_command(plan.conf_path, plan.name))
        except BaseException:
            if device_ruleset is not None:     # only what this call allocated
                self._release_device_ruleset(spec)
            self._net().teardown(spec.net)
            raise
        try:
            self.runner.run(devfs.applyset_command(spec.rootfs, plan.devfs_ruleset))
            self._net().after_create(spec.net, plan.name)
            if plan.rctl_add:
                write_atomic(rctl.rctl_record_path(spec.rundir), "\n".join(a[2] for a in plan.rctl_add) + "\n")
            for argv in plan.rctl_add:
                self.runner.run(argv)
            env = self._env(spec, identity, [], spec.tty)
            check_command(spec.rootfs, spec.argv, env, spec.workdir or "/")
            proc = jail_exec.make_plan(self._jid(plan.name), identity, spec.workdir or "/",
                                       spec.argv, env)
            write_atomic(os.path.join(spec.rundir, PROCESS_FILE), json.dumps(proc))
        except BaseException:
            self._undo_create(spec)
            raise

    def _undo_create(self, spec: ContainerSpec) -> None:
        """Best-effort removal after a failed create; the original error wins."""
        try:
            self.destroy(spec)
        except (JockerError, OSError) as e:
            self._warn(f"cleanup of {spec.id[:12]} after a failed create failed: {e}")

    def _write_files(self, plan: jp.JailPlan) -> None:
        if plan.fstab_path and plan.fstab_text is not None:
            write_atomic(plan.fstab_path, plan.fstab_text)
        write_atomic(plan.conf_path, plan.conf_text)

    def _make_targets(self, plan: jp.JailPlan) -> None:
        """Each mount point where jail(8) will look for it (jail_mounts.mount_targets)."""
        for t in plan.mount_targets:
            src = t.host_source
            if src is not None and not os.path.exists(src):
                raise UsageError(f"mount source {src!r} does not exist")
            if src is not None and not os.path.isdir(src):
                ensure_file_nofollow(t.base, t.path)   # single-file nullfs [U on 14.x]
            else:
                ensure_dir_nofollow(t.base, t.path)

    # ---- processes

    def _jid(self, name: str) -> int:
        res = self.runner.run(jp.jail_exists_command(name), check=False)
        out = res.stdout.strip()
        if res.returncode != 0 or not out.isdigit():
            raise JockerError(f"jail {name} is not running")
        return int(out)

    def _identity(self, root: str, user: str, group_add=()):
        from ..containers.identity import resolve
        return resolve(user, read_file_nofollow(root, "/etc/passwd"),
                       read_file_nofollow(root, "/etc/group"), group_add)

    def _env(self, spec: ContainerSpec, identity, extra: list[str], tty: bool) -> dict[str, str]:
        from ..containers.identity import process_env
        env = process_env(list(spec.env) + list(extra), hostname=jp.hostname(spec),
                          tty=tty, home=identity.home)
        return env_dict(env)

    def _process(self, plan: dict) -> ProcessCommand:
        argv = [sys.executable, "-S", jail_exec.__file__, json.dumps(plan)]
        return ProcessCommand(argv=argv, env={}, in_child=jail_exec.InJail(plan))

    def _main_plan(self, spec: ContainerSpec) -> dict:
        """The main process's plan create wrote: resolved once, no lookups in the supervisor."""
        try:
            with open(os.path.join(spec.rundir, PROCESS_FILE), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise JockerError(f"container {spec.id[:12]} has no jail: create it first") from None

    def main_command(self, spec: ContainerSpec) -> ProcessCommand:
        return self._process(self._main_plan(spec))

    def health_command(self, spec: ContainerSpec, argv: list[str], main_pid: int | None) -> ProcessCommand:
        """The main process's plan (identity, environment, workdir resolved at
        create) with the probe's argv: no passwd lookup and no jls in the
        supervisor per probe, and no identity module in its memory."""
        plan = dict(self._main_plan(spec), argv=list(argv))
        return self._process(plan)

    def exec_command(self, spec: ContainerSpec, argv: list[str], *, user: str, workdir: str,
                     env: list[str], tty: bool, main_pid: int | None) -> ProcessCommand:
        # Docker's exec defaults to the container's user and workdir; env adds to the container's.
        if not argv:
            raise UsageError("no command specified")
        identity = self._identity(spec.rootfs, user or spec.user, spec.group_add)
        wd = jp.container_path(workdir or spec.workdir or "/", "working directory")
        jid = self._jid(jp.jail_name(spec.id))
        process_env = self._env(spec, identity, env, tty)
        check_command(spec.rootfs, argv, process_env, wd)
        return self._process(jail_exec.make_plan(jid, identity, wd, argv, process_env))

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

    def ps_selector(self, spec: ContainerSpec, pids: list[int]) -> list[str]:
        return jp.ps_selector(jp.jail_name(spec.id))

    # ---- destroy

    def jail_exists(self, name: str, *, dying: bool = False) -> bool:
        argv = jp.jail_dying_command(name) if dying else jp.jail_exists_command(name)
        res = self.runner.run(argv, check=False)
        if res.returncode == 0:
            return True
        if "not found" in res.stderr:
            return False
        raise HostCommandError(argv, res.returncode, res.stderr)

    def _usable_conf(self, spec: ContainerSpec) -> str | None:
        """The generated conf, unless it or its fstab is gone (jail(8) would fail)."""
        conf = jp.conf_path(spec.rundir)
        try:
            with open(conf, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        if "mount.fstab" in text and not os.path.exists(jp.fstab_path(spec.rundir)):
            return None
        return conf

    def _wait_dead(self, name: str) -> bool:
        """A removed jail stays dying (`jls -d`) while TIME_WAIT sockets hold its
        credential, and its root vnode is let go only then (kern_jail.c
        prison_deref): the clone is busy until that happens. Bounded."""
        deadline = self.clock() + self.dying_wait
        delay = 0.05
        while self.jail_exists(name, dying=True):
            if self.clock() >= deadline:
                return False
            self.sleep(delay)
            delay = min(delay * 2, 0.5)
        return True

    def update_limits(self, spec: ContainerSpec) -> None:
        """`jocker update` on a running jail: swap the rctl rules that change
        and keep the record destroy reads in step."""
        name = jp.jail_name(spec.id)
        record = rctl.rctl_record_path(spec.rundir)
        try:
            with open(record) as f:
                recorded = [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            recorded = []
        cmds, now = rctl.rctl_update_commands(name, recorded, spec.limits)
        if not cmds:
            return
        if any(c[1] == "-a" for c in cmds) and not self.racct_enabled():
            raise JockerError(RACCT_MSG)
        if now:          # first: a failure halfway still leaves destroy what to remove
            write_atomic(record, "\n".join(sorted(set(now) | set(recorded))) + "\n")
        for argv in cmds:
            self.runner.run(argv)
        if now:
            write_atomic(record, "\n".join(now) + "\n")
        elif os.path.exists(record):
            os.unlink(record)

    def destroy(self, spec: ContainerSpec) -> None:
        name = jp.jail_name(spec.id)
        if self.jail_exists(name):
            argv = jp.jail_remove_command(self._usable_conf(spec), name)
            res = self.runner.run(argv, check=False, retry_busy=True)
            if res.returncode != 0 and self.jail_exists(name):
                raise HostCommandError(argv, res.returncode, res.stderr)
        gone = self._wait_dead(name)      # also after an earlier destroy that gave up waiting
        record = rctl.rctl_record_path(spec.rundir)
        if os.path.exists(record):     # only what create added: rctl -r of nothing is ESRCH
            res = self.runner.run(rctl.rctl_remove_command(name), check=False)
            if res.returncode != 0:
                self._warn(f"rctl -r jail:{name} failed: {res.stderr.strip()}")
            os.unlink(record)
        self._net().teardown(spec.net or {})
        mounts = self.runner.run(jp.mount_list_command()).stdout
        for point in jp.leftover_mounts(mounts, spec.rootfs):
            self.runner.run(jp.umount_command(point), retry_busy=True)
        if not gone:
            self._release_root(spec, mounts)
        self._release_device_ruleset(spec)
        try:
            os.unlink(os.path.join(spec.rundir, PROCESS_FILE))
        except FileNotFoundError:
            pass

    def _release_root(self, spec: ContainerSpec, mount_p: str) -> None:
        """The jail is still dying: force-unmount its root so the dying prison's
        vnode no longer pins the clone (zfs destroy would say busy), then
        mount the dataset again for a later start [U: confirm on 14.3]."""
        root = spec.rootfs.rstrip("/")
        for line in mount_p.splitlines():
            f = line.split()
            if len(f) >= 3 and f[1] == root and f[2] == "zfs":
                self.runner.run(jp.umount_command(root), retry_busy=True)
                self.runner.run(["zfs", "mount", f[0]])
                return
