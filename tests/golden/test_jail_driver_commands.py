"""The JailDriver's exact host command sequences, against a recording runner.

FreeBSD is absent on the workbench, so this pins down what the driver runs
for prepare_host/create/destroy/exec/signal. The runner is also a small
model of the FreeBSD state the commands change, as the sources describe it:
devfs rulesets (sbin/devfs/rule.c: `show` prints "NUM words", `add N` of a
taken number fails, `delset` empties), a jail that stays in `jls -d` after
`jail -r` (kern_jail.c prison_deref). The FreeBSD tier
(tests/freebsd/test_jail_e2e.py) runs the same driver for real.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jocker.containers.identity import UnknownUser
from jocker.errors import Conflict, HostCommandError, JockerError, UsageError
from jocker.host.runner import Result, Runner
from jocker.runtime import freebsd_jail as fj
from jocker.runtime import jail_devfs as devfs
from jocker.runtime import jail_exec
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec, JailOptions, Limits, Mount

CID = "ab12cd34ef56" + "7" * 52
NAME = "jk_ab12cd34ef56"
NOT_FOUND = f'jls: jail "{NAME}" not found'
ALLOW_TEXT = (Path(__file__).parent / "data" / "sysctl-N-allow.txt").read_text()
STOCK = {1: {100: ("hide",)}, 2: {100: ("path", "null", "unhide")}, 3: {100: ("path", "ptmx", "unhide")}}


class RecordingRunner(Runner):
    """Records every argv; answers from a small model of the host."""

    def __init__(self, *, racct: bool = True, exists: bool = False, dying_polls: int = 0,
                 mounts: str = "", rulesets=None, fail=()):
        super().__init__()
        self.calls: list[list[str]] = []
        self.racct, self.exists, self.dying_polls = racct, exists, dying_polls
        self.mounts, self.fail = mounts, set(fail)
        self.rulesets = {k: dict(v) for k, v in (STOCK if rulesets is None else rulesets).items()}
        self.answers: dict[str, tuple[int, str, str]] = {}

    def _run_once(self, argv, input, stdin, stdout, timeout, env, cwd) -> Result:
        self.count += 1
        self.calls.append(list(argv))
        rc, out, err = self.answer(list(argv))
        return Result(list(argv), rc, out, err)

    def answer(self, argv: list[str]) -> tuple[int, str, str]:
        line = " ".join(argv)
        if line in self.answers:
            return self.answers[line]
        if line in self.fail:
            return 1, "", f"{argv[0]}: simulated failure"
        if argv[:3] == ["devfs", "rule", "-s"]:
            return self.devfs(int(argv[3]), argv[4:])
        if argv == devfs.showsets_command():
            return 0, "".join(f"{n}\n" for n in sorted(self.rulesets)), ""
        if argv == jp.allow_command():
            return 0, ALLOW_TEXT, ""
        if argv == jp.physmem_command():
            return 0, f"{8 << 30}\n", ""
        if argv == jp.racct_command():
            return 0, "1\n" if self.racct else "0\n", ""
        if argv[:2] == ["jls", "-j"]:
            return (0, "7\n", "") if self.exists else (1, "", NOT_FOUND)
        if argv[:3] == ["jls", "-d", "-j"]:
            if self.exists or self.dying_polls > 0:
                self.dying_polls -= 1
                return 0, "7\n", ""
            return 1, "", NOT_FOUND
        if argv[:2] == ["jail", "-f"] and argv[3] == "-r" or argv[:2] == ["jail", "-r"]:
            self.exists = False
        if argv[:2] == ["jail", "-f"] and argv[3] == "-c":
            self.exists = True
        if argv == jp.mount_list_command():
            return 0, self.mounts, ""
        return 0, "", ""

    def devfs(self, n: int, args: list[str]) -> tuple[int, str, str]:
        rules = self.rulesets.setdefault(n, {})
        if args == ["show"]:
            return 0, "".join(f"{k} {' '.join(w)}\n" for k, w in sorted(rules.items())), ""
        if args == ["delset"]:
            rules.clear()
        elif args[0] == "add":
            if int(args[1]) in rules:
                return 1, "", "devfs: ioctl DEVFSIO_RADD: File exists"
            rules[int(args[1])] = tuple(args[2:])
        elif args[0] == "del":
            rules.pop(int(args[1]), None)
        return 0, "", ""

    def spawn(self, argv, **kw):
        raise AssertionError("the driver must not spawn processes itself")


@pytest.fixture(autouse=True)
def fresh_probes():
    fj.reset_probes()
    yield
    fj.reset_probes()


@pytest.fixture
def paths(tmp_path):
    root = tmp_path / "containers" / CID / "root"
    (root / "bin").mkdir(parents=True)
    for tool in ("echo", "ps"):
        (root / "bin" / tool).write_text("")
        os.chmod(root / "bin" / tool, 0o755)
    rundir = tmp_path / "run" / CID
    return root, rundir


def driver(r, paths=None, tmp=None, **cfg) -> fj.JailDriver:
    state = str(paths[1].parent) if paths else str(tmp)
    d = fj.JailDriver(r, jp.JailConfig(state_dir=state, devfs_rules=state + "/devfs.rules", **cfg))
    d.sleep = lambda s: None
    return d


def make_spec(paths, **kw) -> ContainerSpec:
    root, rundir = paths
    base = dict(id=CID, name="web", rootfs=str(root), rundir=str(rundir), argv=["/bin/echo", "hi"])
    jail = {k: kw.pop(k) for k in ("devices", "allow", "params", "securelevel") if k in kw}
    if "jail_params" in kw:
        jail["params"] = kw.pop("jail_params")
    base.update(kw)
    return ContainerSpec(**base, jail=JailOptions(**jail))


def show(n):
    return ["devfs", "rule", "-s", str(n), "show"]


STOCK_CHECK = [show(1), show(2), show(3)]


def build(n, *extra, vnet=False):
    return ([show(n)] + STOCK_CHECK + devfs.ruleset_commands(n, list(extra), vnet) + [show(n)])


JID = ["jls", "-j", NAME, "jid"]
ALLOW = ["sysctl", "-N", "security.jail.param.allow"]


# ---------------------------------------------------------------- prepare_host (items 7, 13)

def test_prepare_host_builds_rulesets_from_empty(tmp_path):
    r = RecordingRunner()
    driver(r, tmp=tmp_path).prepare_host()
    assert r.calls == build(100) + build(101, vnet=True)
    assert r.rulesets[101][400] == ("path", "pf", "unhide")


def test_prepare_host_never_empties_a_live_ruleset(tmp_path):
    """devfs.8: nodes created while a ruleset a jail uses is empty stay
    unhidden. Rebuilding (rc.d reload, a second create) must leave a
    complete ruleset untouched, and fix a drifted one rule by rule."""
    r = RecordingRunner()
    d = driver(r, tmp=tmp_path)
    d.prepare_host()
    r.calls.clear()
    d.prepare_host()
    assert r.calls == [show(100), show(101)]
    r.rulesets[100].pop(200)                      # a rule lost
    r.rulesets[100][900] = ("path", "mem", "unhide")   # a rule that should not be there
    r.calls.clear()
    d.prepare_host()
    assert not any("delset" in c for c in r.calls)
    assert r.calls == [show(100)] + STOCK_CHECK + [
        ["devfs", "rule", "-s", "100", "add", "200", "include", "2"],
        ["devfs", "rule", "-s", "100", "del", "900"], show(100), show(101)]
    assert r.rulesets[100] == dict(devfs.wanted_rules())


def test_prepare_host_refuses_a_foreign_rule_in_its_number(tmp_path):
    r = RecordingRunner()
    r.rulesets[100] = {100: ("path", "bpf*", "unhide")}
    with pytest.raises(JockerError, match="rule 100 is `path bpf\\* unhide`"):
        driver(r, tmp=tmp_path).prepare_host()
    assert r.rulesets[100] == {100: ("path", "bpf*", "unhide")}


def test_prepare_host_leaves_an_admins_ruleset_alone(tmp_path):
    (tmp_path / "devfs.rules").write_text("[devfsrules_myjail=100]\nadd path 'bpf*' unhide\n")
    r = RecordingRunner()
    with pytest.raises(JockerError, match="ruleset 100 is defined in .*devfs.rules"):
        driver(r, tmp=tmp_path).prepare_host()
    assert r.calls == []


@pytest.mark.parametrize("missing", [1, 2, 3])
def test_prepare_host_needs_all_three_stock_rulesets(tmp_path, missing):
    r = RecordingRunner()
    del r.rulesets[missing]
    with pytest.raises(JockerError, match=f"devfs ruleset {missing} .* is not loaded"):
        driver(r, tmp=tmp_path).prepare_host()
    assert not any("add" in c for c in r.calls)


def test_admin_rulesets_parse():
    text = "[devfsrules_a=10]\n# [x=11]\n  [ b = 12 ]\nadd include $devfsrules_hide_all\n"
    assert devfs.admin_rulesets(text) == {10, 12}


# ---------------------------------------------------------------- create

def test_create_minimal(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    r.rulesets[100] = dict(devfs.wanted_rules())
    driver(r, paths).create(spec)
    conf = f"{spec.rundir}/jail.conf"
    assert r.calls == [
        ALLOW, show(100),
        ["jail", "-f", conf, "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", "100", "applyset"],
        JID,
    ]
    assert Path(conf).read_text() == jp.plan(spec, known_allow=jp.parse_allow(ALLOW_TEXT)).conf_text
    assert (Path(spec.rootfs) / "dev").is_dir()
    assert not Path(spec.rundir, "fstab").exists()
    proc = json.loads(Path(spec.rundir, "process.json").read_text())
    assert proc["jid"] == 7 and proc["argv"] == ["/bin/echo", "hi"] and proc["uid"] == 0


def test_create_rebuilds_a_missing_base_ruleset(paths):
    r = RecordingRunner()
    driver(r, paths).create(make_spec(paths))
    assert r.calls[1:1 + len(build(100))] == build(100)


def test_create_with_limits(paths):
    spec = make_spec(paths, limits=Limits(memory=256 * 1024 * 1024, cpus=0.5, pids=64))
    r = RecordingRunner()
    r.rulesets[100] = dict(devfs.wanted_rules())
    driver(r, paths).create(spec)
    assert r.calls == [
        ALLOW, ["sysctl", "-n", "kern.racct.enable"], show(100),
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", "100", "applyset"],
        ["rctl", "-a", f"jail:{NAME}:memoryuse:sigkill=268435456"],
        ["rctl", "-a", f"jail:{NAME}:pcpu:deny=50"],
        ["rctl", "-a", f"jail:{NAME}:maxproc:deny=64"],
        JID,
    ]


def test_create_with_limits_without_racct_fails_before_the_jail(paths):
    r = RecordingRunner(racct=False)
    with pytest.raises(JockerError) as info:
        driver(r, paths).create(make_spec(paths, limits=Limits(pids=10)))
    assert str(info.value) == ("resource limits need racct: add kern.racct.enable=1 to "
                               "/boot/loader.conf and reboot")
    assert r.calls == [ALLOW, ["sysctl", "-n", "kern.racct.enable"]]


def test_allow_the_kernel_does_not_know_is_refused_before_anything(paths):
    """allow.vmm exists only once vmm.ko is loaded; jail -c would die on it."""
    r = RecordingRunner()
    with pytest.raises(UsageError, match="allow.vmm is not known to this kernel"):
        driver(r, paths).create(make_spec(paths, allow=["vmm"]))
    assert r.calls == [ALLOW]
    fj.reset_probes()             # probed once per process; a new kernel module needs a new one
    r2 = RecordingRunner()
    r2.answers[" ".join(ALLOW)] = (0, ALLOW_TEXT + "security.jail.param.allow.vmm\n", "")
    driver(r2, paths).create(make_spec(paths, allow=["vmm"]))
    assert "allow.vmm;" in Path(paths[1], "jail.conf").read_text()


def test_tmpfs_without_memory_limit_gets_half_the_ram(paths):
    r = RecordingRunner()
    driver(r, paths).create(make_spec(paths, mounts=[Mount("", "/tmp", kind="tmpfs")]))
    assert ["sysctl", "-n", "hw.physmem"] in r.calls
    assert f"size={4 << 30}" in Path(paths[1], "fstab").read_text()


def test_create_with_devices_uses_a_per_container_ruleset(paths):
    spec = make_spec(paths, devices=["bpf*"])
    n = devfs.device_ruleset_candidates(CID, 1000, 1999)[0]
    r = RecordingRunner()
    driver(r, paths).create(spec)
    assert r.calls == [ALLOW, ["devfs", "rule", "showsets"]] + build(n, "bpf*") + [
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", str(n), "applyset"], JID,
    ]
    assert Path(spec.rundir, "devfs_ruleset").read_text() == f"{n}\n"
    assert f"devfs_ruleset = {n};" in Path(spec.rundir, "jail.conf").read_text()


def test_device_ruleset_skips_numbers_in_use_and_the_admins(paths):
    cands = devfs.device_ruleset_candidates(CID, 1000, 1999)
    Path(paths[1].parent).mkdir(parents=True, exist_ok=True)
    Path(paths[1].parent, "devfs.rules").write_text(f"[mine={cands[1]}]\n")
    r = RecordingRunner()
    r.rulesets[cands[0]] = {100: ("hide",)}
    driver(r, paths).create(make_spec(paths, devices=["tun0"]))
    assert ["devfs", "rule", "-s", str(cands[2]), "add", "1000", "path", "tun0", "unhide"] in r.calls


def test_stale_device_ruleset_is_released_but_a_live_jail_is_not_touched(paths):
    spec = make_spec(paths, devices=["bpf*"])
    Path(spec.rundir).mkdir(parents=True)
    Path(spec.rundir, "devfs_ruleset").write_text("1500\n")
    r = RecordingRunner(exists=True)
    with pytest.raises(Conflict, match="already exists"):
        driver(r, paths).create(spec)
    assert r.calls == [ALLOW, JID]
    r = RecordingRunner(exists=False)
    driver(r, paths).create(spec)
    assert r.calls[:3] == [JID, ["devfs", "rule", "-s", "1500", "delset"],
                           ["devfs", "rule", "showsets"]]


def test_failed_jail_create_releases_the_device_ruleset(paths):
    spec = make_spec(paths, devices=["bpf*"])
    n = devfs.device_ruleset_candidates(CID, 1000, 1999)[0]
    r = RecordingRunner(fail={f"jail -f {spec.rundir}/jail.conf -c {NAME}"})
    with pytest.raises(HostCommandError, match="simulated failure"):
        driver(r, paths).create(spec)
    assert r.calls[-1] == ["devfs", "rule", "-s", str(n), "delset"]
    assert not Path(spec.rundir, "devfs_ruleset").exists()


def test_failed_rctl_removes_the_jail_and_the_rules(paths):
    spec = make_spec(paths, limits=Limits(pids=5))
    r = RecordingRunner(fail={f"rctl -a jail:{NAME}:maxproc:deny=5"})
    with pytest.raises(HostCommandError):
        driver(r, paths).create(spec)
    assert r.calls[-6:] == [
        ["rctl", "-a", f"jail:{NAME}:maxproc:deny=5"],
        JID,
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-r", NAME],
        ["jls", "-d", "-j", NAME, "jid"],
        ["rctl", "-r", f"jail:{NAME}"],
        ["mount", "-p"],
    ]


def test_unknown_user_fails_before_the_jail(paths):
    r = RecordingRunner()
    with pytest.raises(UnknownUser, match="unable to find user nobody"):
        driver(r, paths).create(make_spec(paths, user="nobody"))
    assert not any(c[0] == "jail" for c in r.calls)


def test_create_refuses_symlinked_mount_target(paths, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), Path(paths[0]) / "etc")
    r = RecordingRunner()
    with pytest.raises(JockerError, match=": /etc is a symlink"):
        driver(r, paths).create(make_spec(paths, mounts=[Mount(str(tmp_path), "/etc/app")]))
    assert not (outside / "app").exists()
    assert not any(c[0] == "jail" for c in r.calls)


def test_create_refuses_missing_mount_source(paths, tmp_path):
    r = RecordingRunner()
    with pytest.raises(UsageError, match="does not exist"):
        driver(r, paths).create(make_spec(paths, mounts=[Mount(str(tmp_path / "nope"), "/x")]))


def test_create_validates_before_running_anything(paths):
    r = RecordingRunner()
    with pytest.raises(UsageError):
        driver(r, paths).create(make_spec(paths, jail_params={"exec.start": "sh /etc/rc"}))
    assert r.calls == [ALLOW]


# ---------------------------------------------------------------- destroy (items 4, 11)

def test_destroy_running_jail(paths):
    spec = make_spec(paths, devices=["bpf*"], limits=Limits(pids=9))
    root = spec.rootfs
    mounts = (f"zroot/jocker/c\t{root}\tzfs rw 0 0\n"
              f"devfs\t{root}/dev\tdevfs rw 0 0\n/srv\t{root}/data\tnullfs rw 0 0\n"
              f"/srv/l\t{root}/data/logs\tnullfs rw 0 0\n")
    driver(RecordingRunner(), paths).create(spec)
    n = int(Path(spec.rundir, "devfs_ruleset").read_text())
    r = RecordingRunner(exists=True, mounts=mounts)
    driver(r, paths).destroy(spec)
    assert r.calls == [
        JID,
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-r", NAME],
        ["jls", "-d", "-j", NAME, "jid"],
        ["rctl", "-r", f"jail:{NAME}"],
        ["mount", "-p"],
        ["umount", "-f", f"{root}/data/logs"],
        ["umount", "-f", f"{root}/dev"],
        ["umount", "-f", f"{root}/data"],
        ["devfs", "rule", "-s", str(n), "delset"],
    ]
    assert not Path(spec.rundir, "devfs_ruleset").exists()
    assert not Path(spec.rundir, "rctl").exists()


def test_no_rctl_remove_without_limits(paths):
    """rctl -r for a jail with no rules: the kernel answers ESRCH, a warning per stop."""
    spec = make_spec(paths)
    driver(RecordingRunner(), paths).create(spec)
    r = RecordingRunner(exists=True)
    driver(r, paths).destroy(spec)
    assert not any(c[0] == "rctl" for c in r.calls)


def test_destroy_waits_for_the_dying_jail(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=True, dying_polls=3)
    driver(r, paths).destroy(spec)
    assert r.calls.count(["jls", "-d", "-j", NAME, "jid"]) == 4
    assert not any(c[:2] == ["zfs", "mount"] for c in r.calls)


def test_destroy_releases_the_root_of_a_jail_that_stays_dying(paths):
    """TIME_WAIT can keep a jail dying for 2*MSL with its root vnode held
    (kern_jail.c prison_deref): after a bounded wait the clone is
    force-unmounted (so `zfs destroy` is not busy) and mounted again."""
    spec = make_spec(paths)
    root = spec.rootfs
    r = RecordingRunner(exists=True, dying_polls=10 ** 6,
                        mounts=f"zroot/jocker/containers/x\t{root}\tzfs rw 0 0\n")
    d = driver(r, paths)
    t = [0.0]
    d.clock = lambda: t[0]
    d.sleep = lambda s: t.__setitem__(0, t[0] + s)
    d.destroy(spec)
    assert t[0] >= fj.DYING_WAIT
    assert r.calls[-2:] == [["umount", "-f", root], ["zfs", "mount", "zroot/jocker/containers/x"]]


def test_destroy_is_idempotent_when_already_gone(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=False, racct=False)
    d = driver(r, paths)
    d.destroy(spec)
    d.destroy(spec)
    assert r.calls == [JID, ["jls", "-d", "-j", NAME, "jid"], ["mount", "-p"]] * 2


def test_destroy_without_conf_uses_plain_remove(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=True, racct=False)
    driver(r, paths).destroy(spec)
    assert r.calls[1] == ["jail", "-r", NAME]


def test_destroy_tolerates_jail_vanishing(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=True, racct=False)
    r.answers[f"jail -r {NAME}"] = (1, "", f'jail: "{NAME}" not found')
    orig = r.answer

    def answer(argv):
        if argv[0] == "jls" and any(c[0] == "jail" for c in r.calls):
            return 1, "", NOT_FOUND
        return orig(argv)
    r.answer = answer
    driver(r, paths).destroy(spec)
    assert r.calls[-1] == ["mount", "-p"]


def test_destroy_reports_a_real_jls_failure(paths):
    r = RecordingRunner()
    r.answers[f"jls -j {NAME} jid"] = (1, "", "jls: sysctl: Operation not permitted")
    with pytest.raises(HostCommandError, match="Operation not permitted"):
        driver(r, paths).destroy(make_spec(paths))


# ---------------------------------------------------------------- processes (items 5, 6)

def _image(root: Path):
    (root / "etc").mkdir(exist_ok=True)
    # no pwd.db: only the text files, as an image that skipped pwd_mkdb has
    (root / "etc/passwd").write_text("root:*:0:0::/root:/bin/sh\nwww:*:80:80::/var/www:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("wheel:*:0:\nwww:*:80:\nweb:*:90:www\n")


def test_main_command_runs_the_plan_create_wrote(paths):
    _image(Path(paths[0]))
    spec = make_spec(paths, user="www", workdir="/srv", env=["PATH=/bin"], hostname="web1")
    driver(RecordingRunner(), paths).create(spec)
    r = RecordingRunner(exists=True)
    cmd = driver(r, paths).main_command(spec)
    assert r.calls == []          # resolved once, at create: no lookups in the supervisor
    plan = cmd.in_child.plan
    assert (plan["uid"], plan["gid"], plan["groups"], plan["workdir"]) == (80, 80, [80, 90], "/srv")
    assert plan["env"] == {"PATH": "/bin", "HOSTNAME": "web1", "HOME": "/var/www"}
    assert cmd.argv[:3] == [__import__("sys").executable, "-S", jail_exec.__file__]
    assert json.loads(cmd.argv[3]) == plan and cmd.env == {}


def test_exec_command_numeric_user_without_entry(paths):
    """Docker runs `-u 4242` with gid 0 and HOME /; jexec -U could not at all."""
    _image(Path(paths[0]))
    spec = make_spec(paths, user="www", env=["A=1", "B=2"])
    r = RecordingRunner(exists=True)
    cmd = driver(r, paths).exec_command(spec, ["ps"], user="4242", workdir="", env=["B=3"],
                                        tty=True, main_pid=None)
    plan = cmd.in_child.plan
    assert (plan["jid"], plan["uid"], plan["gid"], plan["groups"]) == (7, 4242, 0, [0])
    assert plan["env"]["B"] == "3" and plan["env"]["TERM"] == "xterm" and plan["env"]["HOME"] == "/"
    assert r.calls == [JID]


def test_exec_in_a_stopped_container(paths):
    with pytest.raises(JockerError, match="is not running"):
        driver(RecordingRunner(), paths).exec_command(
            make_spec(paths), ["ps"], user="", workdir="", env=[], tty=False, main_pid=None)


def test_symlinked_passwd_is_not_read(paths, tmp_path):
    root = Path(paths[0])
    (tmp_path / "hostetc").mkdir()
    (tmp_path / "hostetc/passwd").write_text("evil:*:4242:4242::/:/bin/sh\n")
    os.symlink(str(tmp_path / "hostetc"), root / "etc")
    assert fj.read_file_nofollow(str(root), "/etc/passwd") is None
    with pytest.raises(UnknownUser, match="unable to find user evil"):
        driver(RecordingRunner(exists=True), paths).exec_command(
            make_spec(paths), ["id"], user="evil", workdir="", env=[], tty=False, main_pid=None)


def test_signal_all_pids_and_top(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    r.answers[f"pgrep -j {NAME}"] = (0, "101\n102\n", "")
    d = driver(r, paths)
    d.signal_all(spec, 15, main_pid=101)
    assert d.pids(spec, main_pid=101) == [101, 102]
    assert r.calls == [["pkill", "-TERM", "-j", NAME], ["pgrep", "-j", NAME]]
    assert d.ps_selector(spec, [101, 102]) == ["-J", NAME]


def test_signal_and_pids_tolerate_no_match_and_gone_jail(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    r.answers[f"pkill -KILL -j {NAME}"] = (1, "", "")
    r.answers[f"pgrep -j {NAME}"] = (2, "", f"pgrep: Invalid jail ID or name `{NAME}'")
    d = driver(r, paths)
    d.signal_all(spec, 9, main_pid=None)
    assert d.pids(spec, main_pid=None) == []


def test_signal_reports_other_failures(paths):
    r = RecordingRunner()
    r.answers[f"pkill -TERM -j {NAME}"] = (3, "", "pkill: out of memory")
    with pytest.raises(HostCommandError, match="out of memory"):
        driver(r, paths).signal_all(make_spec(paths), 15, main_pid=None)


# ---------------------------------------------------------------- safe rootfs helpers

def test_ensure_dir_nofollow(tmp_path):
    fj.ensure_dir_nofollow(str(tmp_path), "/a/b/c")
    assert (tmp_path / "a/b/c").is_dir()
    fj.ensure_dir_nofollow(str(tmp_path), "/a/b/c")   # idempotent


def test_ensure_dir_nofollow_refuses_symlinks_and_files(tmp_path):
    (tmp_path / "outside").mkdir()
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink("../../outside", root / "a" / "link")
    (root / "file").write_text("")
    with pytest.raises(JockerError, match="/a/link is a symlink"):
        fj.ensure_dir_nofollow(str(root), "/a/link/x")
    with pytest.raises(JockerError, match="not a directory"):
        fj.ensure_dir_nofollow(str(root), "/file/x")
    assert not (tmp_path / "outside" / "x").exists()


def test_ensure_file_nofollow(tmp_path):
    fj.ensure_file_nofollow(str(tmp_path), "/etc/resolv.conf")
    assert (tmp_path / "etc/resolv.conf").is_file()
    os.symlink("/etc/hostname", tmp_path / "etc/hosts")
    with pytest.raises(JockerError, match="symlink"):
        fj.ensure_file_nofollow(str(tmp_path), "/etc/hosts")


def test_exists_nofollow(tmp_path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/env").write_text("")
    assert fj.exists_nofollow(str(tmp_path), "/usr/bin/env")
    assert not fj.exists_nofollow(str(tmp_path), "/usr/bin/nope")
    assert not fj.exists_nofollow(str(tmp_path), "/bin/env")


def test_empty_device_ruleset_is_refused_and_released(paths):
    spec = make_spec(paths, devices=["bpf*"])
    n = devfs.device_ruleset_candidates(CID, 1000, 1999)[0]
    r = RecordingRunner()
    orig = r.devfs
    r.devfs = lambda num, args: (0, "", "") if num == n and args == ["show"] else orig(num, args)
    with pytest.raises(JockerError, match=f"ruleset {n} is empty"):
        driver(r, paths).create(spec)
    assert r.calls[-1] == ["devfs", "rule", "-s", str(n), "delset"]
    assert not any(c[0] == "jail" for c in r.calls)
    assert not Path(spec.rundir, "devfs_ruleset").exists()


def test_ruleset_changes_wait_for_the_lock(paths):
    """Item 7: two creates (or a create and `system prepare`) must not edit
    rulesets at once; the driver holds an flock on <state_dir>/devfs-rulesets.lock."""
    import fcntl
    import threading
    spec = make_spec(paths)
    r = RecordingRunner()
    d = driver(r, paths)
    Path(d.config.state_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(d.config.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    t = threading.Thread(target=d.create, args=(spec,))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not any(c[:2] == ["devfs", "rule"] for c in r.calls)
    os.close(fd)
    t.join(30)
    assert not t.is_alive() and ["jail", "-f", f"{spec.rundir}/jail.conf", "-c", NAME] in r.calls


def test_destroy_waits_for_a_jail_an_earlier_destroy_left_dying(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=False, dying_polls=2)
    driver(r, paths).destroy(spec)
    assert r.calls.count(["jls", "-d", "-j", NAME, "jid"]) == 3


@pytest.mark.parametrize("argv,env,error,code", [
    (["nosuchcmd"], [], 'exec: "nosuchcmd": executable file not found in $PATH', 127),
    (["/bin/nope"], [], 'exec: "/bin/nope": no such file or directory', 127),
    (["data"], ["PATH=/bin"], 'exec: "data": permission denied', 126)])
def test_command_is_checked_before_anything_is_spawned(paths, argv, env, error, code):
    """Item 6: jexec exited 1 for these; Docker exits 127 / 126 (the
    start status of CommandNotFound / CannotRun), and the jail is removed."""
    from jocker.errors import start_status
    (Path(paths[0]) / "bin" / "data").write_text("not executable")
    r = RecordingRunner()
    with pytest.raises(JockerError) as info:
        driver(r, paths).create(make_spec(paths, argv=argv, env=env))
    assert (str(info.value), start_status(info.value)) == (error, code)
    assert ["jail", "-f", f"{paths[1]}/jail.conf", "-r", NAME] in r.calls
    assert not Path(paths[1], "process.json").exists()


def test_command_found_through_an_image_symlink(paths):
    root = Path(paths[0])
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/app").write_text("")
    os.chmod(root / "usr/local/bin/app", 0o755)
    os.symlink("/usr/local/bin/app", root / "bin" / "app")     # absolute: inside the image
    fj.check_command(str(root), ["app"], {"PATH": "/bin"}, "/")
