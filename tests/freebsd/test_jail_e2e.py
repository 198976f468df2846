"""FreeBSD-only tier: the jail driver for real (jail, jexec, devfs, rctl, nullfs).

The rootfs is a plain directory holding one copy of the statically linked
/rescue crunch binary under several names (it dispatches on argv[0]), so no
image, ZFS or network is needed. Run as root on a FreeBSD 14.x/15.x host:
    python -m pytest tests/freebsd -v
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jocker.runner import Runner
from jocker.runtime import jail_plan as jp
from jocker.runtime.freebsd_jail import JailDriver
from jocker.runtime.spec import ContainerSpec, Limits, Mount

pytestmark = pytest.mark.skipif(
    sys.platform[:7] != "freebsd",
    reason="FreeBSD-only tier: needs jail(8), devfs and rctl on a FreeBSD host")

TOOLS = ("sh", "echo", "cat", "sleep", "hostname")


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

    def _make(argv, **kw) -> ContainerSpec:
        cid = secrets.token_hex(32)
        spec = ContainerSpec(id=cid, name=f"e2e-{cid[:6]}", rootfs=str(root),
                             rundir=str(tmp_path / "run" / cid), argv=argv,
                             env=["PATH=/bin"], **kw)
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
    assert "maxproc:deny=10" in rules and "memoryuse:deny=" in rules
    driver.destroy(spec)
    assert runner.run(["rctl", f"jail:{name}"]).stdout.strip() == ""
