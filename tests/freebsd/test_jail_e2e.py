"""FreeBSD-only tier: the jail driver for real (jail, jexec, devfs, rctl, nullfs).

The rootfs is a plain directory holding one copy of the statically linked
/rescue crunch binary under several names (it dispatches on argv[0]), so no
image, ZFS or network is needed. Run as root on a FreeBSD 14.3 host, from
the checkout:
    sh tests/freebsd/run.sh
Each case names the issue-13 item it proves; the golden tests pin the same
behaviour as commands and models (tests/golden), this tier proves it on a
real kernel.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jocker.host.runner import Runner
from jocker.runtime import jail_plan as jp
from jocker.runtime.freebsd_jail import JailDriver
from jocker.runtime.spec import ContainerSpec, JailOptions, Limits, Mount

pytestmark = pytest.mark.skipif(
    sys.platform[:7] != "freebsd",
    reason="FreeBSD-only tier: needs jail(8), devfs and rctl on a FreeBSD host")

TOOLS = ("sh", "echo", "cat", "sleep", "hostname", "test")


@pytest.fixture(scope="module")
def runner():
    if os.geteuid() != 0:
        pytest.skip("creating jails needs root")
    if not Path("/rescue/sh").exists():
        pytest.skip("/rescue is missing")
    return Runner(timeout=120)


@pytest.fixture(scope="module")
def driver(runner):
    d = JailDriver(runner)
    d.prepare_host()
    return d


@pytest.fixture
def make(tmp_path, driver):
    """Build specs on a /rescue rootfs; destroy every created container afterwards."""
    made: list[ContainerSpec] = []
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    # copyfile, not copy2: /rescue may carry file flags we must not clone
    shutil.copyfile("/rescue/sh", root / "bin" / "sh")
    os.chmod(root / "bin" / "sh", 0o755)
    for tool in TOOLS[1:]:
        os.link(root / "bin" / "sh", root / "bin" / tool)

    def _make(argv, devices=(), allow=(), **kw) -> ContainerSpec:
        cid = secrets.token_hex(32)
        spec = ContainerSpec(id=cid, name=f"e2e-{cid[:6]}", rootfs=str(root),
                             rundir=str(tmp_path / "run" / cid), argv=argv, env=["PATH=/bin"],
                             jail=JailOptions(devices=list(devices), allow=list(allow)), **kw)
        made.append(spec)
        return spec

    yield _make
    for spec in made:
        driver.destroy(spec)


def run_main(driver, spec) -> tuple[int, str]:
    cmd = driver.main_command(spec)
    proc = driver.runner.spawn(cmd.argv, env=cmd.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out.decode()


def mounts_below(runner, root: str) -> list[str]:
    return jp.leftover_mounts(runner.run(jp.mount_list_command()).stdout, root)


def test_echo_hi_and_teardown(driver, runner, make):
    spec = make(["/bin/echo", "hi"])
    driver.create(spec)
    name = jp.jail_name(spec.id)
    assert driver.jail_exists(name)
    assert run_main(driver, spec) == (0, "hi\n")
    driver.destroy(spec)
    assert not driver.jail_exists(name)
    assert runner.run(["jls", "-j", name, "jid"], check=False).returncode != 0
    assert mounts_below(runner, spec.rootfs) == []
    driver.destroy(spec)   # idempotent


def test_exit_code_is_the_containers(driver, make):
    spec = make(["/bin/sh", "-c", "exit 3"])
    driver.create(spec)
    assert run_main(driver, spec)[0] == 3


def test_env_workdir_and_hostname(driver, make):
    spec = make(["/bin/sh", "-c", 'echo "$GREETING|$(pwd)|$(hostname)"'],
                workdir="/srv/app", hostname="e2e-host")
    spec.env.append("GREETING=hello world")
    driver.create(spec)
    rc, out = run_main(driver, spec)
    assert (rc, out) == (0, "hello world|/srv/app|e2e-host\n")


def test_exec_in_running_container(driver, make):
    spec = make(["/bin/sleep", "60"])
    driver.create(spec)
    cmd = driver.exec_command(spec, ["/bin/echo", "from-exec"], user="", workdir="",
                              env=["X=1"], tty=False, main_pid=None)
    proc = subprocess.run(cmd.argv, env=cmd.env, capture_output=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, b"from-exec\n")


def test_signal_all_and_pids(driver, make):
    spec = make(["/bin/sleep", "60"])
    driver.create(spec)
    cmd = driver.main_command(spec)
    proc = driver.runner.spawn(cmd.argv, env=cmd.env)
    try:
        for _ in range(50):
            if proc.pid in driver.pids(spec, proc.pid):
                break
            time.sleep(0.1)
        assert proc.pid in driver.pids(spec, proc.pid)   # jexec execs into the command
        driver.signal_all(spec, 15, proc.pid)
        assert proc.wait(timeout=30) == -15
        assert driver.pids(spec, None) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_volumes_ro_rw_and_tmpfs(driver, runner, make, tmp_path):
    ro = tmp_path / "ro"
    rw = tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "msg").write_text("from host\n")
    spec = make(["/bin/sh", "-c",
                 "cat /data/msg; echo written > /out/file; "
                 "{ echo x > /data/nope; } 2>/dev/null && echo RW-LEAK; echo t > /tmp/t && cat /tmp/t"],
                mounts=[Mount(str(ro), "/data", readonly=True), Mount(str(rw), "/out"),
                        Mount("", "/tmp", kind="tmpfs")])
    driver.create(spec)
    assert run_main(driver, spec) == (0, "from host\nt\n")
    assert (rw / "file").read_text() == "written\n"
    assert not (ro / "nope").exists()
    driver.destroy(spec)
    assert mounts_below(runner, spec.rootfs) == []


def test_devices_are_hidden_unless_asked(driver, make):
    probe = ["/bin/sh", "-c", "test -e /dev/null && test ! -e /dev/mem && test -e /dev/bpf"]
    plain = make(probe)
    driver.create(plain)
    assert run_main(driver, plain)[0] == 1          # /dev/bpf hidden
    driver.destroy(plain)
    with_bpf = make(probe, devices=["bpf*"])
    driver.create(with_bpf)
    assert run_main(driver, with_bpf)[0] == 0       # unhidden by its own ruleset, mem still hidden


def test_rctl_limits_added_and_removed(driver, runner, make):
    if not driver.racct_enabled():
        pytest.skip("kern.racct.enable=0: rctl limits are not available on this host")
    spec = make(["/bin/echo", "limited"], limits=Limits(memory=64 * 1024 * 1024, pids=10))
    name = jp.jail_name(spec.id)
    driver.create(spec)
    rules = runner.run(["rctl", f"jail:{name}"]).stdout
    assert "maxproc:deny=10" in rules and "memoryuse:sigkill=" in rules     # item 8
    driver.destroy(spec)
    assert runner.run(["rctl", f"jail:{name}"]).stdout.strip() == ""


def test_update_swaps_the_rules_of_a_running_jail(driver, runner, make):
    """Issue 12 (`jocker update`): confirms on a real kernel the [U] in
    jail_rctl.rctl_update_commands (a resource filter removes only that
    resource's rules)."""
    import dataclasses
    if not driver.racct_enabled():
        pytest.skip("kern.racct.enable=0: rctl limits are not available on this host")
    spec = make(["/bin/sleep", "30"], limits=Limits(memory=64 * 1024 * 1024, pids=10))
    name = jp.jail_name(spec.id)
    driver.create(spec)
    driver.update_limits(dataclasses.replace(spec, limits=Limits(memory=128 * 1024 * 1024, cpus=0.5)))
    rules = runner.run(["rctl", f"jail:{name}"]).stdout
    assert "memoryuse:sigkill=134217728" in rules and "pcpu:deny=50" in rules
    assert "maxproc" not in rules and "memoryuse:sigkill=67108864" not in rules
    driver.destroy(spec)
    assert runner.run(["rctl", f"jail:{name}"]).stdout.strip() == ""


# ---------------------------------------------------------------- issue 13, item by item

def test_nested_mounts_and_workdir_under_a_volume(driver, runner, make, tmp_path):
    """Item 1: jail(8) checks each fstab mount point as it reaches it."""
    vol, logs = tmp_path / "vol", tmp_path / "logs"
    vol.mkdir()
    logs.mkdir()
    (logs / "l").write_text("log\n")
    spec = make(["/bin/sh", "-c", "cat /data/logs/l; pwd"], workdir="/data/app",
                mounts=[Mount(str(vol), "/data", kind="volume"), Mount(str(logs), "/data/logs")])
    driver.create(spec)
    assert run_main(driver, spec) == (0, "log\n/data/app\n")
    assert (vol / "app").is_dir()
    driver.destroy(spec)
    assert mounts_below(runner, spec.rootfs) == []


def test_top_selects_by_jail_with_start(driver, runner, make):
    """Item 2: FreeBSD's ps has no stime keyword (bin/ps/keyword.c)."""
    spec = make(["/bin/sleep", "60"])
    driver.create(spec)
    cmd = driver.main_command(spec)
    proc = driver.runner.spawn(cmd.argv, env=cmd.env)
    try:
        time.sleep(0.5)
        res = runner.run(["ps", "-o", "user,pid,ppid,start,time,args"]
                         + driver.ps_selector(spec, []))
        assert str(proc.pid) in res.stdout and "sleep 60" in res.stdout
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("argv,code", [(["nosuchcmd"], 127), (["/etc/passwd"], 126)])
def test_exit_codes_like_docker(driver, runner, make, argv, code):
    """Item 6: jexec exited 1 for these. Refused before spawning, jail removed;
    and the child's own check (after jail_attach) gives the same codes."""
    from jocker.errors import JockerError, start_status
    spec = make(argv)
    (Path(spec.rootfs) / "etc").mkdir(exist_ok=True)
    (Path(spec.rootfs) / "etc" / "passwd").write_text("root:*:0:0::/root:/bin/sh\n")
    with pytest.raises(JockerError) as info:
        driver.create(spec)
    assert start_status(info.value) == code
    assert not driver.jail_exists(jp.jail_name(spec.id))
    ok = make(["/bin/sleep", "60"])
    driver.create(ok)
    cmd = driver.exec_command(ok, ["/bin/echo"], user="", workdir="", env=[], tty=False,
                              main_pid=None)
    plan = dict(cmd.in_child.plan, argv=argv)
    res = subprocess.run([sys.executable, "-S", cmd.argv[2], json.dumps(plan)], timeout=60)
    assert res.returncode == code


@pytest.mark.parametrize("user,uid", [("app", 1001), ("4242", 4242)])
def test_user_from_the_images_text_passwd(driver, make, user, uid):
    """Item 5: no pwd.db in the image (no pwd_mkdb), and a bare uid."""
    spec = make(["/bin/sh", "-c", "echo x > /tmp/owned"], user=user)
    root = Path(spec.rootfs)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:*:0:0::/root:/bin/sh\napp:*:1001:1001::/tmp:/bin/sh\n")
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    driver.create(spec)
    assert run_main(driver, spec)[0] == 0
    assert (root / "tmp" / "owned").stat().st_uid == uid
    (root / "tmp" / "owned").unlink()


def test_prepare_host_with_a_running_container_never_unhides(driver, runner, make):
    """Item 7: rebuilding rulesets under a running container keeps /dev/mem hidden."""
    spec = make(["/bin/sleep", "60"])
    driver.create(spec)
    before = runner.run(["devfs", "rule", "-s", str(driver.config.base_ruleset), "show"]).stdout
    driver.prepare_host()
    after = runner.run(["devfs", "rule", "-s", str(driver.config.base_ruleset), "show"]).stdout
    assert before == after
    cmd = driver.exec_command(spec, ["/bin/test", "!", "-e", "/dev/mem"], user="", workdir="",
                              env=[], tty=False, main_pid=None)
    assert subprocess.run(cmd.argv, env=cmd.env, timeout=60).returncode == 0


def test_allow_list_comes_from_the_kernel(driver, runner, make):
    """Item 10: allow.vmm exists only with vmm.ko loaded."""
    known = jp.parse_allow(runner.run(jp.allow_command()).stdout)
    assert {"set_hostname", "raw_sockets"} <= known
    if "vmm" not in known:
        with pytest.raises(jp.UsageError, match="allow.vmm"):
            driver.create(make(["/bin/echo"], allow=["vmm"]))


def test_no_rctl_warning_without_limits(driver, runner, make, capsys):
    """Item 11: rctl -r of a jail without rules answered ESRCH on every stop."""
    spec = make(["/bin/echo"])
    driver.create(spec)
    driver.destroy(spec)
    assert "rctl" not in capsys.readouterr().err


def test_docker_defaults_raw_sockets_hostname_fdescfs(driver, runner, make):
    """Item 12: ping works, hostname changes do not, /dev/fd/3 exists."""
    spec = make(["/bin/sh", "-c", "hostname changed 2>/dev/null && exit 9; "
                 "exec 3</dev/null; test -e /dev/fd/3"])
    driver.create(spec)
    params = runner.run(["jls", "-j", jp.jail_name(spec.id), "-n",
                         "allow.raw_sockets", "allow.set_hostname"]).stdout
    assert "allow.raw_sockets" in params and "allow.noset_hostname" in params
    assert run_main(driver, spec)[0] == 0


def test_removed_jail_is_gone_before_destroy_returns(driver, runner, make):
    """Item 4: destroy waits (bounded) for the jail to leave `jls -d`."""
    spec = make(["/bin/sleep", "60"])
    driver.create(spec)
    driver.destroy(spec)
    gone = runner.run(jp.jail_dying_command(jp.jail_name(spec.id)), check=False)
    assert gone.returncode != 0 or spec.rootfs not in runner.run(jp.mount_list_command()).stdout


def test_jail_r_does_not_wait_a_second_grace_period(driver, make):
    """Item 14: stop.timeout = 0, so `jail -r` kills what ignores SIGTERM at once
    (usr.sbin/jail/command.c term_procs returns early for a zero timeout)."""
    spec = make(["/bin/sh", "-c", "trap '' TERM; sleep 60"])
    driver.create(spec)
    cmd = driver.main_command(spec)
    proc = driver.runner.spawn(cmd.argv, env=cmd.env)
    try:
        time.sleep(0.5)
        assert "stop.timeout = 0;" in Path(spec.rundir, "jail.conf").read_text()
        driver.destroy(spec)
        assert proc.wait(timeout=30) == -9
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stock_rulesets_are_loaded(runner):
    """Item 13: jocker's rulesets include 1, 2 and 3."""
    for n in (1, 2, 3):
        assert runner.run(["devfs", "rule", "-s", str(n), "show"]).stdout.strip(), n


def test_portlint_is_clean():
    """Item 16: the port's form, checked by portlint itself when installed."""
    if not shutil.which("portlint"):
        pytest.skip("portlint is not installed (pkg install portlint)")
    port = Path(__file__).resolve().parents[2] / "ports" / "sysutils" / "jocker"
    res = subprocess.run(["portlint", "-A"], cwd=port, capture_output=True, text=True, timeout=120)
    assert "FATAL" not in res.stdout, res.stdout


def _probe_until(mon, sel, cond, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end and not cond():
        for _key, _ in sel.select(0.05):
            mon.read()
        mon.tick()
    assert cond()


def test_healthcheck_probe_runs_in_the_jail_and_times_out(driver, make):
    """The supervisor's healthcheck monitor with the jail driver's probe:
    inside the jail, with the main process's environment and workdir; a
    probe past its timeout is killed with what it started."""
    import selectors
    from jocker.containers import health as H
    spec = make(["/bin/sleep", "60"], workdir="/srv")
    spec.env.append("MARK=main-env")
    driver.create(spec)
    sched = H.schedule({"Test": ["CMD-SHELL", 'echo "$MARK|$(pwd)"'], "Interval": 100_000_000})
    sel = selectors.DefaultSelector()
    mon = H.Monitor(sched, spec.rundir, sel, lambda argv: driver.health_command(spec, argv, None),
                    driver.runner.start)
    _probe_until(mon, sel, lambda: mon.state.log)
    assert mon.state.log[0]["ExitCode"] == 0 and mon.state.log[0]["Output"] == "main-env|/srv\n"
    assert H.read(spec.rundir)["Status"] == "healthy"
    mon.stop()
    sched = H.schedule({"Test": ["CMD", "/bin/sleep", "77"], "Interval": 100_000_000,
                        "Timeout": 500_000_000, "Retries": 1})
    mon = H.Monitor(sched, spec.rundir, sel, lambda argv: driver.health_command(spec, argv, None),
                    driver.runner.start)
    _probe_until(mon, sel, lambda: mon.state.log)
    assert mon.state.log[0]["ExitCode"] == -1 and mon.state.status == "unhealthy"
    time.sleep(0.2)
    args = driver.runner.run(["ps", "-o", "args", *jp.ps_selector(jp.jail_name(spec.id))], check=False).stdout
    assert "sleep 77" not in args
    mon.stop()
