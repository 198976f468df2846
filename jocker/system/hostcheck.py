"""`jocker system check`: is this host ready to run containers?

Two halves, kept apart so the logic is unit-tested without a FreeBSD box:

* gather(engine) probes the host through engine.runner (zpool, zfs, sysctl,
  kldstat, pfctl, devfs) and returns a plain dict of what it saw. It never
  raises for a failing probe: a missing command or a permission error is
  recorded as a result like any other.
* check_host(probes) and the check_* functions are pure: probe dict in,
  CheckResult list out. Each failed check says how to fix it.

A CheckResult's ok is True (passed), False (failed) or None (not applicable
on this host, e.g. FreeBSD-only checks on the Linux workbench). A failed
*required* check means containers cannot run safely (`jocker system check`
exits 1); a failed optional one only disables a feature (NAT and published
ports without pf, --memory/--cpus without racct).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import HOST_NOT_READY, HostCommandError, JockerError

FREEBSD_ONLY = "FreeBSD only"
LINUX_ONLY = "Linux workbench only"

from ..net.freebsd_plan import HOOK_LINES as PF_HOOKS  # noqa: E402  (one home for the hook lines)
KERNEL_MODULES = ("if_bridge", "if_epair", "pf")


class HostNotReady(JockerError):
    """A required check failed; `jocker system check` exits 1."""

    kind = HOST_NOT_READY


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        if self.ok is None:
            return "n/a"
        if self.ok:
            return "ok"
        return "FAIL" if self.required else "warn"


Probes = dict[str, Any]


def _na(name: str, why: str, required: bool = True) -> CheckResult:
    return CheckResult(name, None, why, required=required)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _failure(probe: dict | None, default: str) -> str:
    """The most useful one-line reason a probe failed."""
    if not probe:
        return default
    return _first_line(probe.get("err")) or _first_line(probe.get("out")) or \
        f"exit status {probe.get('rc')}"


def _is_freebsd(p: Probes) -> bool:
    return p.get("os") == "FreeBSD"


# -- storage (both platforms) -------------------------------------------------

def check_zfs_pool(p: Probes) -> CheckResult:
    name = "zfs pool"
    pool = p.get("pool", "")
    probe = p.get("zpool")
    if not probe or probe.get("rc") != 0:
        why = _failure(probe, "zpool did not answer")
        if p.get("embedded"):
            return CheckResult(name, False, f"embedded pool {pool} is not imported: {why}",
                               "jocker system init (creates or imports it)")
        return CheckResult(name, False, f"pool {pool} not available: {why}",
                           f"zpool import {pool}, or create it (zpool create {pool} DEVICE), "
                           "or set dataset= in jocker.conf")
    fields = _first_line(probe.get("out")).split("\t")
    health = fields[1] if len(fields) > 1 else "?"
    if health != "ONLINE":
        return CheckResult(name, False, f"pool {pool} is {health}",
                           f"zpool status -x {pool}, then repair or replace the failed device")
    return CheckResult(name, True, f"{pool} ONLINE" + (" (embedded, file-backed)" if p.get("embedded") else ""))


def check_root_dataset(p: Probes) -> CheckResult:
    name = "root dataset"
    root = p.get("root", "")
    probe = p.get("root_props")
    if probe is None:
        return CheckResult(name, False, f"{root} not checked: pool {p.get('pool')} is not available",
                           "jocker system init")
    if probe.get("rc") != 0:
        return CheckResult(name, False, f"{root} does not exist ({_failure(probe, 'zfs did not answer')})",
                           "jocker system init")
    props = {}
    for line in (probe.get("out") or "").splitlines():
        key, _, value = line.partition("\t")
        props[key] = value
    if props.get("mounted") != "yes":
        return CheckResult(name, False, f"{root} is not mounted (mountpoint {props.get('mountpoint', '?')})",
                           f"zfs mount {root}")
    want = p.get("mountpoint")
    if want and props.get("mountpoint") != want:
        return CheckResult(name, False, f"{root} is mounted on {props.get('mountpoint')}, configuration says {want}",
                           f"zfs set mountpoint={want} {root}, or set mountpoint= in jocker.conf")
    return CheckResult(name, True, f"{root} on {props.get('mountpoint')}")


# -- FreeBSD kernel and host setup ------------------------------------------------

def _sysctl_is_one(p: Probes, name: str, key: str, sysctl: str, problem: str, fix: str) -> CheckResult:
    """An optional FreeBSD feature that a sysctl reports as 1 when present."""
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY, required=False)
    probe = p.get(key)
    if probe and probe.get("rc") == 0 and _first_line(probe.get("out")) == "1":
        return CheckResult(name, True, f"{sysctl}=1", required=False)
    return CheckResult(name, False, problem, fix, required=False)


def check_vimage(p: Probes) -> CheckResult:
    return _sysctl_is_one(p, "VIMAGE kernel", "vimage", "kern.features.vimage",
                          "kernel built without VIMAGE: containers get no network stack of their own",
                          "boot a GENERIC kernel (VIMAGE is in GENERIC since 12.0) or add `options VIMAGE`")


def check_module(p: Probes, module: str) -> CheckResult:
    name = f"module {module}"
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY, required=False)
    probe = (p.get("modules") or {}).get(module)
    if probe and probe.get("rc") == 0:
        return CheckResult(name, True, "loaded", required=False)
    return CheckResult(name, False, "not loaded",
                       f"kldload {module} && sysrc kld_list+={module}",
                       required=False)


def check_pf_enabled(p: Probes) -> CheckResult:
    name = "pf enabled"
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY, required=False)
    probe = p.get("pf_info")
    first = _first_line(probe.get("out")) if probe else ""
    if probe and probe.get("rc") == 0 and first.startswith("Status: Enabled"):
        return CheckResult(name, True, first, required=False)
    detail = first if probe and probe.get("rc") == 0 else _failure(probe, "pfctl did not answer")
    return CheckResult(name, False, f"pf is off ({detail}): no NAT, no published ports",
                       "sysrc pf_enable=YES && service pf start", required=False)


def check_pf_anchors(p: Probes) -> CheckResult:
    name = "pf anchors"
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY, required=False)
    nat, rules = p.get("pf_nat"), p.get("pf_rules")
    for probe in (nat, rules):
        if not probe or probe.get("rc") != 0:
            return CheckResult(name, False, f"cannot read the pf ruleset: {_failure(probe, 'pfctl did not answer')}",
                               "run as root, with pf loaded (kldload pf)", required=False)
    present = {hook: _has_hook((nat if hook != PF_HOOKS[2] else rules).get("out") or "", hook)
               for hook in PF_HOOKS}
    missing = [h for h in PF_HOOKS if not present[h]]
    if missing:
        return CheckResult(name, False, "missing from the main ruleset: " + ", ".join(missing),
                           "add to /etc/pf.conf (translation hooks before filter rules): "
                           + "; ".join(PF_HOOKS) + " -- then service pf reload", required=False)
    return CheckResult(name, True, "nat-anchor, rdr-anchor and anchor \"jocker/*\" are hooked", required=False)


def _has_hook(listing: str, hook: str) -> bool:
    """Whether `pfctl -s nat|rules` lists the hook itself (pfctl may append
    `all` or other words after it; `anchor` must not match `nat-anchor`)."""
    pattern = re.compile(r"^\s*" + re.escape(hook) + r"(\s|$)")
    return any(pattern.match(line) for line in listing.splitlines())


def check_racct(p: Probes) -> CheckResult:
    return _sysctl_is_one(p, "racct", "racct", "kern.racct.enable",
                          "resource accounting is off: --memory, --cpus and --pids-limit cannot work",
                          "echo kern.racct.enable=1 >> /boot/loader.conf, then reboot")


STOCK_RULESETS = {"1": "devfsrules_hide_all", "2": "devfsrules_unhide_basic",
                  "3": "devfsrules_unhide_login"}


def check_devfs_stock(p: Probes) -> CheckResult:
    """jocker's rulesets include stock rulesets 1, 2 and 3 (runtime/jail_devfs):
    an unloaded one is empty and its include hides or unhides nothing."""
    name = "devfs rulesets 1-3"
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY)
    probes = p.get("devfs_stock") or {}
    missing = []
    for n, label in STOCK_RULESETS.items():
        probe = probes.get(n)
        if not (probe and probe.get("rc") == 0 and (probe.get("out") or "").strip()):
            why = "empty" if probe and probe.get("rc") == 0 else _failure(probe, "devfs did not answer")
            missing.append(f"{n} ({label}) is {why}")
    if not missing:
        return CheckResult(name, True, "the stock rulesets jocker includes are loaded")
    return CheckResult(name, False, "stock ruleset " + "; ".join(missing) + ": jocker's rulesets include it",
                       "service devfs restart")


def check_devfs_ruleset(p: Probes) -> CheckResult:
    number = p.get("devfs_ruleset")
    name = f"devfs ruleset {number}"
    if not _is_freebsd(p):
        return _na(name, FREEBSD_ONLY, required=False)
    probe = p.get("devfs_rules")
    if probe and probe.get("rc") == 0 and (probe.get("out") or "").strip():
        count = len((probe.get("out") or "").strip().splitlines())
        return CheckResult(name, True, f"{count} rules loaded", required=False)
    why = "empty" if probe and probe.get("rc") == 0 else _failure(probe, "devfs did not answer")
    # Not required: the jail driver rebuilds it before the first container
    # starts and refuses to start one while it is empty (an empty ruleset
    # would show a container every host device).
    return CheckResult(name, False, f"jocker's ruleset is {why}: it is built before the first container starts",
                       "service jocker start (or jocker system prepare)", required=False)


def check_ip_forwarding(p: Probes) -> CheckResult:
    return _sysctl_is_one(p, "IP forwarding", "forwarding", "net.inet.ip.forwarding",
                          "forwarding is off: containers reach only this host (pf translates, it does not route)",
                          "sysrc gateway_enable=YES && sysctl net.inet.ip.forwarding=1")


def check_filter_local(p: Probes) -> CheckResult:
    return _sysctl_is_one(p, "pf filter_local", "filter_local", "net.pf.filter_local",
                          "pf ignores local traffic: published ports do not answer on 127.0.0.1 or from "
                          "this host (and keep `set skip on lo0` out of pf.conf)",
                          "echo net.pf.filter_local=1 >> /etc/sysctl.conf && sysctl net.pf.filter_local=1")


def check_address_space(p: Probes) -> CheckResult:
    """The pool still has a subnet for a new network that no host route uses."""
    from ..net import ipam
    name = "network address pool"
    if "routes" not in p:
        return _na(name, "the host's routes could not be read", required=False)
    try:
        free = ipam.choose_subnet(p["net_pool"], int(p["net_size"]), p.get("networks") or {}, p["routes"])
    except JockerError as e:
        return CheckResult(name, False, e.message, e.hint or "", required=False)
    return CheckResult(name, True, f"next free subnet {free} (pool {p['net_pool']})", required=False)


# -- Linux workbench --------------------------------------------------------------

def check_zfs_fuse(p: Probes) -> CheckResult:
    name = "zfs-fuse"
    if p.get("os") != "Linux":
        return _na(name, LINUX_ONLY)
    if p.get("zfs_fuse_running"):
        return CheckResult(name, True, "running")
    return CheckResult(name, False, "the zfs-fuse daemon is not running",
                       "jocker system init (starts it), or apt-get install zfs-fuse")


def check_linux_tools(p: Probes) -> CheckResult:
    name = "unshare/nsenter"
    if p.get("os") != "Linux":
        return _na(name, LINUX_ONLY)
    tools = p.get("tools") or {}
    missing = [t for t in ("unshare", "nsenter") if not tools.get(t)]
    if missing:
        return CheckResult(name, False, "not found: " + ", ".join(missing), "apt-get install util-linux")
    return CheckResult(name, True, ", ".join(tools[t] for t in ("unshare", "nsenter")))


def check_linux_net_tools(p: Probes) -> CheckResult:
    name = "ip/nft"
    if p.get("os") != "Linux":
        return _na(name, LINUX_ONLY)
    tools = p.get("tools") or {}
    missing = [t for t in ("ip", "nft") if not tools.get(t)]
    if missing:
        return CheckResult(name, False, "not found: " + ", ".join(missing) + " (containers on networks need them)",
                           "apt-get install iproute2 nftables")
    return CheckResult(name, True, ", ".join(tools[t] for t in ("ip", "nft")))


def check_linux_forwarding(p: Probes) -> CheckResult:
    name = "IP forwarding"
    if p.get("os") != "Linux":
        return _na(name, LINUX_ONLY, required=False)
    if p.get("ip_forward") == "1":
        return CheckResult(name, True, "net.ipv4.ip_forward=1", required=False)
    return CheckResult(name, False, "net.ipv4.ip_forward=0: containers reach only this host",
                       "sysctl -w net.ipv4.ip_forward=1", required=False)


def check_dev_fuse(p: Probes) -> CheckResult:
    name = "/dev/fuse"
    if p.get("os") != "Linux":
        return _na(name, LINUX_ONLY)
    if p.get("dev_fuse"):
        return CheckResult(name, True, "present")
    return CheckResult(name, False, "missing: zfs-fuse cannot run",
                       "modprobe fuse (in a container: run it with --device /dev/fuse)")


CHECKS: tuple[Callable[[Probes], CheckResult], ...] = (
    check_zfs_fuse, check_dev_fuse, check_linux_tools, check_linux_net_tools, check_linux_forwarding,
    check_zfs_pool, check_root_dataset,
    check_devfs_stock, check_devfs_ruleset, check_vimage,
    *(lambda p, m=m: check_module(p, m) for m in KERNEL_MODULES),
    check_pf_enabled, check_pf_anchors, check_ip_forwarding, check_filter_local, check_racct,
    check_address_space,
)


def check_host(probes: Probes) -> list[CheckResult]:
    return [check(probes) for check in CHECKS]


def failed_required(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.ok is False and r.required]


# -- probing ---------------------------------------------------------------------

def _probe(runner, argv: list[str]) -> dict:
    try:
        res = runner.run(argv, check=False, timeout=30)
    except HostCommandError as e:          # not installed, or timed out
        return {"rc": e.returncode, "out": "", "err": e.stderr}
    return {"rc": res.returncode, "out": res.stdout, "err": res.stderr}


def gather(engine, system: str | None = None) -> Probes:
    """Probe the host through engine.runner. Nothing here raises for a host
    that is not ready: that is what the checks report."""
    cfg, run = engine.config, engine.runner
    system = system or platform.system()
    pool = cfg.root.split("/")[0]
    p: Probes = {
        "os": system,
        "pool": pool,
        "root": cfg.root,
        "mountpoint": cfg.mountpoint,
        "embedded": cfg.embedded,
        "devfs_ruleset": cfg.devfs_ruleset,
    }
    if system == "Linux":
        from ..storage import zfsfuse
        p["zfs_fuse_running"] = zfsfuse.running()
        p["dev_fuse"] = os.path.exists("/dev/fuse")
        p["tools"] = {t: shutil.which(t) for t in ("unshare", "nsenter", "ip", "nft")}
        try:
            p["ip_forward"] = open("/proc/sys/net/ipv4/ip_forward").read().strip()
        except OSError:
            pass
    p["zpool"] = _probe(run, ["zpool", "list", "-H", "-o", "name,health", pool])
    if p["zpool"]["rc"] == 0:
        p["root_props"] = _probe(run, ["zfs", "get", "-H", "-o", "property,value",
                                       "mounted,mountpoint", cfg.root])
    if system == "FreeBSD":
        p["vimage"] = _probe(run, ["sysctl", "-n", "kern.features.vimage"])
        p["modules"] = {m: _probe(run, ["kldstat", "-q", "-m", m]) for m in KERNEL_MODULES}
        p["pf_info"] = _probe(run, ["pfctl", "-s", "info"])
        p["pf_nat"] = _probe(run, ["pfctl", "-s", "nat"])
        p["pf_rules"] = _probe(run, ["pfctl", "-s", "rules"])
        p["racct"] = _probe(run, ["sysctl", "-n", "kern.racct.enable"])
        p["forwarding"] = _probe(run, ["sysctl", "-n", "net.inet.ip.forwarding"])
        p["filter_local"] = _probe(run, ["sysctl", "-n", "net.pf.filter_local"])
        p["devfs_stock"] = {n: _probe(run, ["devfs", "rule", "-s", n, "show"]) for n in STOCK_RULESETS}
        p["devfs_rules"] = _probe(run, ["devfs", "rule", "-s", str(cfg.devfs_ruleset), "show"])
    return p


def gather_networks(engine, p: Probes) -> None:
    """Subnets of the stored networks and the host's routes, for the pool check."""
    from ..net import store
    p["net_pool"], p["net_size"] = engine.config.network_pool, engine.config.network_size
    try:
        nets = store.load(engine.layout, engine.zfs.tree(engine.layout.root))
    except JockerError:
        nets = {}
    p["networks"] = {n: store.subnet_of(r)[0] for n, r in nets.items()}
    try:
        p["routes"] = engine.network_driver.host_routes({store.bridge_of(r) for r in nets.values()})
    except JockerError:
        pass
