"""The JailDriver's exact host command sequences, against a recording runner.

FreeBSD is absent on the workbench, so this pins down what the driver runs
for prepare_host/create/destroy/exec/signal; the FreeBSD tier
(tests/freebsd/test_jail_e2e.py) runs the same driver for real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jocker.errors import Conflict, HostCommandError, JockerError, UsageError
from jocker.runner import Result, Runner
from jocker.runtime import freebsd_jail as fj
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec, Limits, Mount

CID = "ab12cd34ef56" + "7" * 52
NAME = "jk_ab12cd34ef56"
NOT_FOUND = f'jls: jail "{NAME}" not found'


class RecordingRunner(Runner):
    """Records every argv and answers with canned Results (rc 0, no output by default)."""

    def __init__(self, *, racct: bool = True, jexec_d: bool = True, exists: bool = False,
                 mounts: str = "", showsets: str = "1\n2\n3\n4\n5\n100\n101\n", fail=()):
        super().__init__()
        self.calls: list[list[str]] = []
        self.racct, self.jexec_d, self.exists = racct, jexec_d, exists
        self.mounts, self.showsets, self.fail = mounts, showsets, set(fail)
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
        if argv[:2] == ["devfs", "rule"] and argv[-1] == "show":
            return 0, f"100 include {argv[3]}\n", ""
        if argv == jp.racct_command():
            return 0, "1\n" if self.racct else "0\n", ""
        if argv[:2] == ["jls", "-j"]:
            return (0, "7\n", "") if self.exists else (1, "", NOT_FOUND)
        if argv == jp.showsets_command():
            return 0, self.showsets, ""
        if argv == jp.mount_list_command():
            return 0, self.mounts, ""
        if argv[:2] == [jp.JEXEC, "-d"]:
            if self.jexec_d:
                return 1, "", 'jexec: jail "jk_probe_nonexistent" not found'
            return 1, "", "jexec: illegal option -- d\nusage: jexec [-l] [-u username | -U username] jail [command ...]"
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
    root.mkdir(parents=True)
    rundir = tmp_path / "run" / CID
    return root, rundir


def make_spec(paths, **kw) -> ContainerSpec:
    root, rundir = paths
    base = dict(id=CID, name="web", rootfs=str(root), rundir=str(rundir), argv=["/bin/echo", "hi"])
    base.update(kw)
    return ContainerSpec(**base)


def show(n):
    return ["devfs", "rule", "-s", str(n), "show"]


def build(n, *extra):
    rule = ["devfs", "rule", "-s", str(n)]
    return ([rule + ["delset"]] + [rule + ["add", "include", str(i)] for i in (1, 2, 3)]
            + [rule + ["add", "path", e, "unhide"] for e in extra] + [show(n)])


# ---------------------------------------------------------------- prepare_host

def test_prepare_host_builds_and_verifies_rulesets():
    r = RecordingRunner()
    fj.JailDriver(r).prepare_host()
    assert r.calls == [show(1)] + build(100) + build(101, "pf")


def test_prepare_host_refuses_an_empty_ruleset():
    r = RecordingRunner()
    r.answers["devfs rule -s 100 show"] = (0, "", "")
    with pytest.raises(JockerError, match="ruleset 100 is empty"):
        fj.JailDriver(r).prepare_host()


def test_prepare_host_needs_stock_rulesets():
    r = RecordingRunner()
    r.answers["devfs rule -s 1 show"] = (0, "", "")
    with pytest.raises(JockerError, match="devfsrules_hide_all"):
        fj.JailDriver(r).prepare_host()
    assert r.calls == [show(1)]


# ---------------------------------------------------------------- create

def test_create_minimal(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    fj.JailDriver(r).create(spec)
    conf = f"{spec.rundir}/jail.conf"
    assert r.calls == [
        show(100),
        ["jail", "-f", conf, "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", "100", "applyset"],
    ]
    assert Path(conf).read_text() == jp.plan(spec).conf_text
    assert (Path(spec.rootfs) / "dev").is_dir()
    assert not Path(spec.rundir, "fstab").exists()


def test_create_rebuilds_a_missing_base_ruleset(paths):
    r = RecordingRunner()
    shows = iter([(0, "", ""), (0, "x\n", ""), (0, "x\n", "")])
    r.answer_orig = r.answer
    r.answer = lambda argv: next(shows) if argv[-1] == "show" else r.answer_orig(argv)
    fj.JailDriver(r).create(make_spec(paths))
    assert r.calls[:7] == [show(100), show(1)] + build(100)


def test_create_with_limits(paths):
    spec = make_spec(paths, limits=Limits(memory=256 * 1024 * 1024, cpus=0.5, pids=64))
    r = RecordingRunner()
    fj.JailDriver(r).create(spec)
    assert r.calls == [
        ["sysctl", "-n", "kern.racct.enable"],
        show(100),
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", "100", "applyset"],
        ["rctl", "-a", f"jail:{NAME}:memoryuse:deny=268435456"],
        ["rctl", "-a", f"jail:{NAME}:pcpu:deny=50"],
        ["rctl", "-a", f"jail:{NAME}:maxproc:deny=64"],
    ]


def test_create_with_limits_without_racct_fails_before_the_jail(paths):
    r = RecordingRunner(racct=False)
    with pytest.raises(JockerError) as info:
        fj.JailDriver(r).create(make_spec(paths, limits=Limits(pids=10)))
    assert str(info.value) == ("resource limits need racct: add kern.racct.enable=1 to "
                               "/boot/loader.conf and reboot")
    assert r.calls == [["sysctl", "-n", "kern.racct.enable"]]


def test_create_with_devices_uses_a_per_container_ruleset(paths):
    spec = make_spec(paths, devices=["bpf*"])
    n = jp.device_ruleset_candidates(CID, jp.JailConfig())[0]
    r = RecordingRunner()
    fj.JailDriver(r).create(spec)
    assert r.calls == [["devfs", "rule", "showsets"], show(1)] + build(n, "bpf*") + [
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-c", NAME],
        ["devfs", "-m", f"{spec.rootfs}/dev", "rule", "-s", str(n), "applyset"],
    ]
    assert Path(spec.rundir, "devfs_ruleset").read_text() == f"{n}\n"
    assert f"devfs_ruleset = {n};" in Path(spec.rundir, "jail.conf").read_text()


def test_device_ruleset_skips_numbers_in_use(paths):
    cands = jp.device_ruleset_candidates(CID, jp.JailConfig())
    r = RecordingRunner(showsets=f"1\n2\n3\n100\n{cands[0]}\n")
    fj.JailDriver(r).create(make_spec(paths, devices=["tun0"]))
    assert ["devfs", "rule", "-s", str(cands[1]), "add", "path", "tun0", "unhide"] in r.calls


def test_stale_device_ruleset_is_released_but_a_live_jail_is_not_touched(paths):
    spec = make_spec(paths, devices=["bpf*"])
    Path(spec.rundir).mkdir(parents=True)
    Path(spec.rundir, "devfs_ruleset").write_text("1500\n")
    r = RecordingRunner(exists=True)
    with pytest.raises(Conflict, match="already exists"):
        fj.JailDriver(r).create(spec)
    assert r.calls == [["jls", "-j", NAME, "jid"]]
    r = RecordingRunner(exists=False)
    fj.JailDriver(r).create(spec)
    assert r.calls[:3] == [["jls", "-j", NAME, "jid"], ["devfs", "rule", "-s", "1500", "delset"],
                           ["devfs", "rule", "showsets"]]


def test_failed_jail_create_releases_the_device_ruleset(paths):
    spec = make_spec(paths, devices=["bpf*"])
    n = jp.device_ruleset_candidates(CID, jp.JailConfig())[0]
    r = RecordingRunner(fail={f"jail -f {spec.rundir}/jail.conf -c {NAME}"})
    with pytest.raises(HostCommandError, match="simulated failure"):
        fj.JailDriver(r).create(spec)
    assert r.calls[-1] == ["devfs", "rule", "-s", str(n), "delset"]
    assert not Path(spec.rundir, "devfs_ruleset").exists()


def test_failed_rctl_removes_the_jail(paths):
    spec = make_spec(paths, limits=Limits(pids=5))
    r = RecordingRunner(fail={f"rctl -a jail:{NAME}:maxproc:deny=5"})
    r.exists = True   # the jail was created before rctl failed
    with pytest.raises(HostCommandError):
        fj.JailDriver(r).create(spec)
    assert r.calls[-5:] == [
        ["rctl", "-a", f"jail:{NAME}:maxproc:deny=5"],
        ["jls", "-j", NAME, "jid"],
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-r", NAME],
        ["rctl", "-r", f"jail:{NAME}"],
        ["mount", "-p"],
    ]


def test_create_with_volumes_writes_fstab_and_targets(paths, tmp_path):
    src_dir = tmp_path / "srcdir"
    src_dir.mkdir()
    src_file = tmp_path / "app.conf"
    src_file.write_text("x")
    spec = make_spec(paths, workdir="/srv/app", mounts=[
        Mount(str(src_dir), "/data/logs"), Mount(str(src_file), "/etc/app.conf", readonly=True),
        Mount("", "/tmp", kind="tmpfs")])
    r = RecordingRunner()
    fj.JailDriver(r).create(spec)
    root = Path(spec.rootfs)
    assert (root / "data/logs").is_dir() and (root / "tmp").is_dir() and (root / "srv/app").is_dir()
    assert (root / "etc/app.conf").is_file()
    assert Path(spec.rundir, "fstab").read_text() == jp.plan(spec).fstab_text
    assert f'mount.fstab = "{spec.rundir}/fstab";' in Path(spec.rundir, "jail.conf").read_text()


def test_create_refuses_symlinked_mount_target(paths, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), Path(paths[0]) / "etc")
    r = RecordingRunner()
    with pytest.raises(JockerError, match=": /etc is a symlink"):
        fj.JailDriver(r).create(make_spec(paths, mounts=[Mount(str(tmp_path), "/etc/app")]))
    assert not (outside / "app").exists()
    assert not any(c[0] == "jail" for c in r.calls)


def test_create_refuses_missing_mount_source(paths, tmp_path):
    r = RecordingRunner()
    with pytest.raises(UsageError, match="does not exist"):
        fj.JailDriver(r).create(make_spec(paths, mounts=[Mount(str(tmp_path / "nope"), "/x")]))


def test_create_validates_before_running_anything(paths):
    r = RecordingRunner()
    with pytest.raises(UsageError):
        fj.JailDriver(r).create(make_spec(paths, jail_params={"exec.start": "sh /etc/rc"}))
    assert r.calls == []


# ---------------------------------------------------------------- destroy

def test_destroy_running_jail(paths):
    spec = make_spec(paths, devices=["bpf*"])
    root = spec.rootfs
    mounts = (f"zroot/jocker/c\t{root}\tzfs rw 0 0\n"
              f"devfs\t{root}/dev\tdevfs rw 0 0\n/srv\t{root}/data\tnullfs rw 0 0\n"
              f"/srv/l\t{root}/data/logs\tnullfs rw 0 0\n")
    fj.JailDriver(RecordingRunner()).create(spec)
    n = int(Path(spec.rundir, "devfs_ruleset").read_text())
    r = RecordingRunner(exists=True, mounts=mounts)
    fj.JailDriver(r).destroy(spec)
    assert r.calls == [
        ["jls", "-j", NAME, "jid"],
        ["jail", "-f", f"{spec.rundir}/jail.conf", "-r", NAME],
        ["sysctl", "-n", "kern.racct.enable"],
        ["rctl", "-r", f"jail:{NAME}"],
        ["mount", "-p"],
        ["umount", "-f", f"{root}/data/logs"],
        ["umount", "-f", f"{root}/dev"],
        ["umount", "-f", f"{root}/data"],
        ["devfs", "rule", "-s", str(n), "delset"],
    ]
    assert not Path(spec.rundir, "devfs_ruleset").exists()


def test_destroy_is_idempotent_when_already_gone(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=False, racct=False)
    d = fj.JailDriver(r)
    d.destroy(spec)
    d.destroy(spec)
    once = [["jls", "-j", NAME, "jid"], ["sysctl", "-n", "kern.racct.enable"], ["mount", "-p"]]
    assert r.calls == once + [once[0], once[2]]   # racct probed once per process


def test_destroy_without_conf_uses_plain_remove(paths):
    spec = make_spec(paths)
    r = RecordingRunner(exists=True, racct=False)
    fj.JailDriver(r).destroy(spec)
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
    fj.JailDriver(r).destroy(spec)
    assert r.calls[-1] == ["mount", "-p"]


def test_destroy_reports_a_real_jls_failure(paths):
    r = RecordingRunner()
    r.answers[f"jls -j {NAME} jid"] = (1, "", "jls: sysctl: Operation not permitted")
    with pytest.raises(HostCommandError, match="Operation not permitted"):
        fj.JailDriver(r).destroy(make_spec(paths))


# ---------------------------------------------------------------- processes

def test_main_command_root_env_via_process(paths):
    spec = make_spec(paths, env=["PATH=/bin:/usr/bin", "A=b c"])
    r = RecordingRunner()
    cmd = fj.JailDriver(r).main_command(spec)
    assert cmd.argv == ["/usr/sbin/jexec", NAME, "/bin/echo", "hi"]
    assert cmd.env == {"PATH": "/bin:/usr/bin", "A": "b c"}
    assert r.calls == []   # workdir "/": no probe needed


def _image(root: Path, *, env_bin: bool):
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("wheel:*:0:\nwww:*:80:\n")
    if env_bin:
        (root / "usr/bin").mkdir(parents=True, exist_ok=True)
        (root / "usr/bin/env").write_text("")


def test_main_command_user_workdir_with_jexec_d(paths):
    _image(Path(paths[0]), env_bin=True)
    spec = make_spec(paths, user="80", workdir="/srv", env=["PATH=/bin"])
    r = RecordingRunner(jexec_d=True)
    d = fj.JailDriver(r)
    cmd = d.main_command(spec)
    assert cmd.argv == ["/usr/sbin/jexec", "-U", "www", "-d", "/srv", NAME,
                        "/usr/bin/env", "-i", "--", "PATH=/bin", "/bin/echo", "hi"]
    assert cmd.env == {}
    d.main_command(spec)
    assert r.calls == [["/usr/sbin/jexec", "-d", "/", "jk_probe_nonexistent", "/usr/bin/true"]]


def test_main_command_without_jexec_d_or_env(paths):
    _image(Path(paths[0]), env_bin=False)
    spec = make_spec(paths, user="www", workdir="/srv", env=["PATH=/bin"])
    cmd = fj.JailDriver(RecordingRunner(jexec_d=False)).main_command(spec)
    assert cmd.argv == ["/usr/sbin/jexec", "-U", "www", NAME, "/bin/sh", "-c",
                        'cd "$1" && shift && exec "$@"', "sh", "/srv", "/bin/echo", "hi"]
    assert cmd.env == {"PATH": "/bin"}


def test_exec_command_defaults_to_container_user_and_merges_env(paths):
    _image(Path(paths[0]), env_bin=True)
    spec = make_spec(paths, user="www", env=["A=1", "B=2"])
    cmd = fj.JailDriver(RecordingRunner()).exec_command(
        spec, ["ps"], user="", workdir="", env=["B=3"], tty=False, main_pid=None)
    assert cmd.argv == ["/usr/sbin/jexec", "-U", "www", NAME, "/usr/bin/env", "-i", "--",
                        "A=1", "B=3", "ps"]
    root_cmd = fj.JailDriver(RecordingRunner()).exec_command(
        spec, ["ps"], user="root", workdir="/", env=[], tty=True, main_pid=4)
    assert root_cmd.argv == ["/usr/sbin/jexec", NAME, "ps"]
    assert root_cmd.env == {"A": "1", "B": "2"}


def test_unknown_numeric_user_cannot_run(paths):
    _image(Path(paths[0]), env_bin=True)
    with pytest.raises(JockerError, match="unable to find user 4242"):
        fj.JailDriver(RecordingRunner()).main_command(make_spec(paths, user="4242"))


def test_symlinked_passwd_is_not_read(paths, tmp_path):
    root = Path(paths[0])
    (tmp_path / "hostetc").mkdir()
    (tmp_path / "hostetc/passwd").write_text("evil:*:4242:4242::/:/bin/sh\n")
    os.symlink(str(tmp_path / "hostetc"), root / "etc")
    assert fj.read_file_nofollow(str(root), "/etc/passwd") is None
    with pytest.raises(JockerError, match="unable to find user 4242"):
        fj.JailDriver(RecordingRunner()).main_command(make_spec(paths, user="4242"))


def test_signal_all_and_pids(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    r.answers[f"pgrep -j {NAME}"] = (0, "101\n102\n", "")
    d = fj.JailDriver(r)
    d.signal_all(spec, 15, main_pid=101)
    assert d.pids(spec, main_pid=101) == [101, 102]
    assert r.calls == [["pkill", "-TERM", "-j", NAME], ["pgrep", "-j", NAME]]


def test_signal_and_pids_tolerate_no_match_and_gone_jail(paths):
    spec = make_spec(paths)
    r = RecordingRunner()
    r.answers[f"pkill -KILL -j {NAME}"] = (1, "", "")
    r.answers[f"pgrep -j {NAME}"] = (2, "", f"pgrep: Invalid jail ID or name `{NAME}'")
    d = fj.JailDriver(r)
    d.signal_all(spec, 9, main_pid=None)
    assert d.pids(spec, main_pid=None) == []


def test_signal_reports_other_failures(paths):
    r = RecordingRunner()
    r.answers[f"pkill -TERM -j {NAME}"] = (3, "", "pkill: out of memory")
    with pytest.raises(HostCommandError, match="out of memory"):
        fj.JailDriver(r).signal_all(make_spec(paths), 15, main_pid=None)


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
    n = jp.device_ruleset_candidates(CID, jp.JailConfig())[0]
    r = RecordingRunner()
    r.answers[f"devfs rule -s {n} show"] = (0, "", "")
    with pytest.raises(JockerError, match=f"ruleset {n} is empty"):
        fj.JailDriver(r).create(spec)
    assert r.calls[-1] == ["devfs", "rule", "-s", str(n), "delset"]
    assert not any(c[0] == "jail" for c in r.calls)
    assert not Path(spec.rundir, "devfs_ruleset").exists()
