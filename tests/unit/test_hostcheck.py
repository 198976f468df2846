"""`jocker system check`: pure checks over probe dicts (a good FreeBSD host,
a bad one, the Linux workbench), gather() through a fake runner, and the
click command's table and exit status."""

from __future__ import annotations

import types

import pytest
from click.testing import CliRunner

from jocker import config as config_mod
from jocker.system import hostcheck as hc
from jocker.cli.check import check_cmd
from jocker.errors import HostCommandError
from jocker.host.runner import Result


def ok(out: str = "") -> dict:
    return {"rc": 0, "out": out, "err": ""}


def bad(err: str, rc: int = 1) -> dict:
    return {"rc": rc, "out": "", "err": err}


GOOD_FREEBSD = {
    "os": "FreeBSD", "pool": "zroot", "root": "zroot/jocker", "mountpoint": "/var/db/jocker",
    "embedded": False, "devfs_ruleset": "100",
    "zpool": ok("zroot\tONLINE\n"),
    "root_props": ok("mounted\tyes\nmountpoint\t/var/db/jocker\n"),
    "vimage": ok("1\n"),
    "modules": {m: ok() for m in hc.KERNEL_MODULES},
    "pf_info": ok("Status: Enabled for 0 days 01:02:03          Debug: Urgent\n\nState Table ...\n"),
    "pf_nat": ok('nat on vtnet0 inet from <jocker_nat> to any -> (vtnet0) round-robin\n'
                 'nat-anchor "jocker/*" all\nrdr-anchor "jocker/*" all\n'),
    "pf_rules": ok('anchor "jocker/*" all\npass all flags S/SA keep state\n'),
    "racct": ok("1\n"),
    "forwarding": ok("1\n"),
    "filter_local": ok("1\n"),
    "devfs_stock": {"1": ok("100 hide\n"), "2": ok("100 path null unhide\n"),
                    "3": ok("100 path ptmx unhide\n")},
    "devfs_rules": ok("100 include 1\n200 include 2\n300 include 3\n"),
}

BAD_FREEBSD = {
    **GOOD_FREEBSD,
    "zpool": ok("zroot\tDEGRADED\n"),
    "root_props": ok("mounted\tno\nmountpoint\t/var/db/jocker\n"),
    "vimage": bad("sysctl: unknown oid 'kern.features.vimage'"),
    "modules": {"if_bridge": ok(), "if_epair": bad("kldstat: can't find module if_epair"),
                "pf": bad("kldstat: can't find module pf")},
    "pf_info": bad("pfctl: /dev/pf: No such file or directory"),
    "pf_nat": ok('nat-anchor "jocker/*" all\n'),
    "pf_rules": ok("pass all flags S/SA keep state\n"),
    "forwarding": ok("0\n"),
    "filter_local": bad("sysctl: unknown oid 'net.pf.filter_local'"),
    "racct": ok("0\n"),
    "devfs_stock": {"1": ok("100 hide\n"), "2": ok(""), "3": bad("devfs: ioctl: Permission denied")},
    "devfs_rules": ok(""),
}

GOOD_LINUX = {
    "os": "Linux", "pool": "jockerpool", "root": "jockerpool/jocker", "mountpoint": "/var/db/jocker",
    "embedded": True, "devfs_ruleset": "100",
    "zfs_fuse_running": True, "dev_fuse": True,
    "tools": {"unshare": "/usr/bin/unshare", "nsenter": "/usr/bin/nsenter", "ip": "/usr/sbin/ip",
              "nft": "/usr/sbin/nft"},
    "ip_forward": "1",
    "zpool": ok("jockerpool\tONLINE\n"),
    "root_props": ok("mounted\tyes\nmountpoint\t/var/db/jocker\n"),
}

BAD_LINUX = {
    **GOOD_LINUX,
    "zfs_fuse_running": False, "dev_fuse": False,
    "tools": {"unshare": "/usr/bin/unshare", "nsenter": None, "ip": "/usr/sbin/ip", "nft": None},
    "ip_forward": "0",
    "zpool": bad("cannot open 'jockerpool': no such pool"),
}
BAD_LINUX.pop("root_props")


def by_name(results):
    return {r.name: r for r in results}


def test_good_freebsd_host_passes_everything():
    results = hc.check_host(GOOD_FREEBSD)
    assert [r.name for r in results if r.ok is False] == []
    assert hc.failed_required(results) == []
    r = by_name(results)
    assert r["network address pool"].ok is None
    for name in ("zfs-fuse", "/dev/fuse", "unshare/nsenter", "ip/nft"):
        assert r[name].ok is None and r[name].detail == hc.LINUX_ONLY
    assert r["devfs ruleset 100"].detail == "3 rules loaded"
    assert r["zfs pool"].detail == "zroot ONLINE"
    assert r["pf enabled"].detail.startswith("Status: Enabled")
    assert {x.status for x in results} == {"ok", "n/a"}


def test_bad_freebsd_host_every_failure_has_a_fix():
    results = hc.check_host(BAD_FREEBSD)
    failed = [r for r in results if r.ok is False]
    assert {r.name for r in failed} == {
        "zfs pool", "root dataset", "VIMAGE kernel", "module if_epair", "module pf",
        "pf enabled", "pf anchors", "racct", "devfs rulesets 1-3", "devfs ruleset 100", "IP forwarding",
        "pf filter_local"}
    for r in failed:
        assert r.fix, f"{r.name} failed without a fix"
        assert r.detail
    assert {r.name for r in hc.failed_required(results)} == {"zfs pool", "root dataset", "devfs rulesets 1-3"}
    r = by_name(results)
    assert "DEGRADED" in r["zfs pool"].detail and "zpool status" in r["zfs pool"].fix
    assert r["root dataset"].fix == "zfs mount zroot/jocker"
    assert "kldload if_epair" in r["module if_epair"].fix
    assert r["module if_bridge"].ok is True
    assert "/dev/pf" in r["pf enabled"].detail and "pf_enable=YES" in r["pf enabled"].fix
    assert r["pf anchors"].detail == 'missing from the main ruleset: rdr-anchor "jocker/*", anchor "jocker/*"'
    for hook in hc.PF_HOOKS:
        assert hook in r["pf anchors"].fix
    assert "kern.racct.enable=1" in r["racct"].fix and "loader.conf" in r["racct"].fix
    assert r["devfs rulesets 1-3"].fix == "service devfs restart"
    # all three are checked, not only 1 (issue 13 item 13)
    assert "2 (devfsrules_unhide_basic) is empty" in r["devfs rulesets 1-3"].detail
    assert "3 (devfsrules_unhide_login)" in r["devfs rulesets 1-3"].detail
    assert "built before the first container" in r["devfs ruleset 100"].detail
    assert r["devfs rulesets 1-3"].status == "FAIL" and r["racct"].status == "warn"
    assert r["devfs ruleset 100"].status == "warn"
    assert "net.inet.ip.forwarding=1" in r["IP forwarding"].fix
    assert r["pf filter_local"].fix.startswith("echo net.pf.filter_local=1 >> /etc/sysctl.conf")


def test_network_address_pool():
    p = {**GOOD_LINUX, "net_pool": "10.88.0.0/15", "net_size": "16", "networks": {"bridge": "10.88.0.0/16"},
         "routes": ["192.0.2.0/24"]}
    r = hc.check_address_space(p)
    assert r.ok is True and "10.89.0.0/16" in r.detail
    r = hc.check_address_space({**p, "routes": ["10.89.0.0/16"]})
    assert r.ok is False and "no free /16" in r.detail and "network prune" in r.fix


def test_pf_anchor_hook_must_be_the_rule_itself():
    # `anchor` must not be satisfied by `nat-anchor`, nor by a sub-anchor's name
    p = {**GOOD_FREEBSD,
         "pf_rules": ok('anchor "jocker/*x" all\nanchor "other/*" all\n'),
         "pf_nat": ok('nat-anchor "jocker/*" all\nrdr-anchor "jocker/*"\n')}
    r = hc.check_pf_anchors(p)
    assert r.ok is False and r.detail.endswith(': anchor "jocker/*"')


def test_unreadable_pf_ruleset_is_reported():
    r = hc.check_pf_anchors({**GOOD_FREEBSD, "pf_nat": bad("pfctl: Permission denied")})
    assert r.ok is False and "Permission denied" in r.detail and r.fix


def test_missing_root_dataset_and_missing_vimage_sysctl():
    p = {**GOOD_FREEBSD, "root_props": bad("cannot open 'zroot/jocker': dataset does not exist")}
    r = hc.check_root_dataset(p)
    assert r.ok is False and "does not exist" in r.detail and r.fix == "jocker system init"
    p = dict(GOOD_FREEBSD)
    p.pop("vimage")
    assert hc.check_vimage(p).ok is False


def test_root_dataset_on_the_wrong_mountpoint():
    p = {**GOOD_FREEBSD, "root_props": ok("mounted\tyes\nmountpoint\t/jocker\n")}
    r = hc.check_root_dataset(p)
    assert r.ok is False and "zfs set mountpoint=/var/db/jocker zroot/jocker" in r.fix


def test_embedded_pool_not_imported_points_to_init():
    p = {**GOOD_LINUX, "zpool": bad("cannot open 'jockerpool': no such pool")}
    r = hc.check_zfs_pool(p)
    assert r.ok is False and "embedded pool jockerpool" in r.detail and r.fix.startswith("jocker system init")
    r = hc.check_zfs_pool({**GOOD_FREEBSD, "zpool": bad("cannot open 'zroot': no such pool")})
    assert r.ok is False and "zpool import zroot" in r.fix


def test_linux_workbench():
    results = hc.check_host(GOOD_LINUX)
    assert hc.failed_required(results) == []
    r = by_name(results)
    for name in ("VIMAGE kernel", "module if_bridge", "pf enabled", "pf anchors", "racct",
                 "devfs rulesets 1-3", "devfs ruleset 100"):
        assert r[name].ok is None and r[name].detail == hc.FREEBSD_ONLY
    assert r["zfs-fuse"].ok and r["/dev/fuse"].ok
    assert r["unshare/nsenter"].detail == "/usr/bin/unshare, /usr/bin/nsenter"
    assert r["zfs pool"].detail == "jockerpool ONLINE (embedded, file-backed)"


def test_bad_linux_workbench():
    results = hc.check_host(BAD_LINUX)
    failed = {r.name: r for r in hc.failed_required(results)}
    assert set(failed) == {"zfs-fuse", "/dev/fuse", "unshare/nsenter", "ip/nft", "zfs pool", "root dataset"}
    assert failed["unshare/nsenter"].detail == "not found: nsenter"
    assert all(r.fix for r in failed.values())


class FakeRunner:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run(self, argv, check=True, timeout=None, **kw):
        self.calls.append(list(argv))
        ans = self.answers.get(tuple(argv))
        if ans is None:
            raise HostCommandError(list(argv), 127, f"{argv[0]}: command not found")
        return Result(list(argv), ans["rc"], ans["out"], ans["err"])


@pytest.fixture
def engine(tmp_path):
    conf = tmp_path / "jocker.conf"
    conf.write_text("dataset = zroot/jocker\ndevfs_ruleset = 42\n")
    cfg = config_mod.load(str(conf), environ={})
    return types.SimpleNamespace(config=cfg, runner=None)


def test_gather_on_freebsd_probes_through_the_runner(engine):
    answers = {
        ("zpool", "list", "-H", "-o", "name,health", "zroot"): GOOD_FREEBSD["zpool"],
        ("zfs", "get", "-H", "-o", "property,value", "mounted,mountpoint", "zroot/jocker"):
            GOOD_FREEBSD["root_props"],
        ("sysctl", "-n", "kern.features.vimage"): GOOD_FREEBSD["vimage"],
        ("pfctl", "-s", "info"): GOOD_FREEBSD["pf_info"],
        ("pfctl", "-s", "nat"): GOOD_FREEBSD["pf_nat"],
        ("pfctl", "-s", "rules"): GOOD_FREEBSD["pf_rules"],
        ("sysctl", "-n", "kern.racct.enable"): GOOD_FREEBSD["racct"],
        ("sysctl", "-n", "net.inet.ip.forwarding"): GOOD_FREEBSD["forwarding"],
        ("sysctl", "-n", "net.pf.filter_local"): GOOD_FREEBSD["filter_local"],
        ("devfs", "rule", "-s", "1", "show"): GOOD_FREEBSD["devfs_stock"]["1"],
        ("devfs", "rule", "-s", "2", "show"): GOOD_FREEBSD["devfs_stock"]["2"],
        ("devfs", "rule", "-s", "3", "show"): GOOD_FREEBSD["devfs_stock"]["3"],
        ("devfs", "rule", "-s", "42", "show"): GOOD_FREEBSD["devfs_rules"],
        **{("kldstat", "-q", "-m", m): ok() for m in hc.KERNEL_MODULES},
    }
    engine.runner = FakeRunner(answers)
    p = hc.gather(engine, system="FreeBSD")
    assert p["os"] == "FreeBSD" and p["pool"] == "zroot" and p["devfs_ruleset"] == "42"
    assert len(engine.runner.calls) == len(answers)
    results = hc.check_host(p)
    assert [r.name for r in results if r.ok is False] == []
    assert "devfs ruleset 42" in by_name(results)


def test_gather_survives_missing_commands(engine):
    engine.runner = FakeRunner({})
    p = hc.gather(engine, system="FreeBSD")
    assert p["zpool"]["rc"] == 127 and "root_props" not in p
    results = by_name(hc.check_host(p))
    assert "command not found" in results["zfs pool"].detail
    assert results["devfs ruleset 42"].ok is False and results["devfs rulesets 1-3"].ok is False


def test_gather_on_linux_skips_freebsd_probes(engine):
    engine.runner = FakeRunner({})
    p = hc.gather(engine, system="Linux")
    assert not any(c[0] in ("pfctl", "kldstat", "devfs", "sysctl") for c in engine.runner.calls)
    assert {"zfs_fuse_running", "dev_fuse", "tools"} <= set(p)


def _invoke(monkeypatch, probes, *args):
    """Like the real CLI: click in non-standalone mode, errors left to run()."""
    monkeypatch.setattr(hc, "gather", lambda engine, system=None: probes)
    monkeypatch.setattr(hc, "gather_networks", lambda engine, p: None)
    from jocker.engine_api import JockerAPI
    obj = types.SimpleNamespace(api=JockerAPI(object()))
    return CliRunner().invoke(check_cmd, list(args), obj=obj, standalone_mode=False)


def test_check_command_table_and_exit_status(monkeypatch):
    res = _invoke(monkeypatch, GOOD_FREEBSD)
    assert res.exception is None and res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL", "FIX"]
    assert any(line.startswith("devfs ruleset 100") and " ok " in line for line in lines)
    assert any(line.startswith("network address pool") and " n/a " in line for line in lines)

    res = _invoke(monkeypatch, BAD_FREEBSD)
    from jocker.cli.exitcodes import exit_code
    assert isinstance(res.exception, hc.HostNotReady) and exit_code(res.exception.kind) == 1
    assert str(res.exception) == ("3 required check(s) failed: zfs pool, root dataset, devfs rulesets 1-3 "
                                  "(see FIX above)")
    assert any(line.startswith("devfs rulesets 1-3 ") and " FAIL " in line for line in res.output.splitlines())


def test_optional_failures_do_not_fail_the_command(monkeypatch):
    probes = {**GOOD_FREEBSD, "racct": ok("0\n"), "pf_info": ok("Status: Disabled\n")}
    res = _invoke(monkeypatch, probes)
    assert res.exception is None
    assert any(line.startswith("racct") and " warn " in line for line in res.output.splitlines())


def test_check_command_format(monkeypatch):
    res = _invoke(monkeypatch, GOOD_LINUX, "--format", "{{.Name}}={{.Status}}")
    assert res.exception is None
    assert "zfs-fuse=ok" in res.output.splitlines() and "racct=n/a" in res.output.splitlines()
