"""`jocker update` on a running jail: the exact rctl commands (jail_rctl's
pure plan, carried out by JailDriver.update_limits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jocker.errors import JockerError, UsageError
from jocker.runtime import jail_rctl as rctl
from jocker.runtime.spec import Limits

from test_jail_driver_commands import NAME, RecordingRunner, driver, make_spec, paths  # noqa: F401

MEM = f"jail:{NAME}:memoryuse:sigkill=268435456"
CPU = f"jail:{NAME}:pcpu:deny=50"
PIDS = f"jail:{NAME}:maxproc:deny=64"


def test_plan_changes_only_what_differs():
    cmds, now = rctl.rctl_update_commands(NAME, [MEM, CPU], Limits(memory=512 << 20, cpus=0.5, pids=64))
    assert cmds == [
        ["rctl", "-r", f"jail:{NAME}:memoryuse"],
        ["rctl", "-a", f"jail:{NAME}:memoryuse:sigkill=536870912"],
        ["rctl", "-a", PIDS],
    ]
    assert now == [f"jail:{NAME}:memoryuse:sigkill=536870912", CPU, PIDS]


def test_plan_removes_a_limit_that_is_gone():
    cmds, now = rctl.rctl_update_commands(NAME, [MEM, PIDS], Limits(memory=256 << 20))
    assert cmds == [["rctl", "-r", f"jail:{NAME}:maxproc"]]
    assert now == [MEM]


def test_plan_with_nothing_to_do():
    assert rctl.rctl_update_commands(NAME, [MEM], Limits(memory=256 << 20)) == ([], [MEM])


def test_plan_refuses_bad_values():
    with pytest.raises(UsageError):
        rctl.rctl_update_commands(NAME, [], Limits(cpus=0.001))


def test_driver_runs_the_plan_and_keeps_the_record(paths):  # noqa: F811
    from jocker.runtime import freebsd_jail as fj
    fj.reset_probes()
    spec = make_spec(paths, limits=Limits(memory=256 << 20, cpus=0.5))
    r = RecordingRunner()
    d = driver(r, paths)
    Path(spec.rundir).mkdir(parents=True)
    record = Path(rctl.rctl_record_path(spec.rundir))
    record.write_text(f"{MEM}\n")
    d.update_limits(spec)
    assert r.calls == [["sysctl", "-n", "kern.racct.enable"], ["rctl", "-a", CPU]]
    assert record.read_text().split() == [MEM, CPU]
    # every limit lifted: the rules go, and so does the record (destroy then runs no rctl -r)
    r.calls.clear()
    d.update_limits(make_spec(paths))
    assert r.calls == [["rctl", "-r", f"jail:{NAME}:memoryuse"], ["rctl", "-r", f"jail:{NAME}:pcpu"]]
    assert not record.exists()


def test_driver_without_racct_refuses_before_any_rctl(paths):  # noqa: F811
    from jocker.runtime import freebsd_jail as fj
    fj.reset_probes()
    spec = make_spec(paths, limits=Limits(pids=10))
    Path(spec.rundir).mkdir(parents=True)
    r = RecordingRunner(racct=False)
    with pytest.raises(JockerError, match="racct"):
        driver(r, paths).update_limits(spec)
    assert not any(c[0] == "rctl" for c in r.calls)
    fj.reset_probes()
