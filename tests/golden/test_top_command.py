"""`jocker top` on FreeBSD (issue 13 item 2): FreeBSD's ps has no `stime`
keyword (bin/ps/keyword.c lists `start`, `lstart`, `time`, but no `stime`;
an unknown keyword makes ps exit 1) and selects a jail's processes with
`-J jail` (bin/ps/ps.c). The exact argv against a recording runner."""

from __future__ import annotations

from types import SimpleNamespace

from jocker.containers import inside
from jocker.runtime import freebsd_jail as fj
from jocker.runtime.spec import ContainerSpec

from test_jail_driver_commands import CID, NAME, RecordingRunner


def test_top_uses_start_and_selects_by_jail(monkeypatch, tmp_path):
    spec = ContainerSpec(id=CID, name="web", rootfs=str(tmp_path), rundir=str(tmp_path / "run"),
                         argv=["/bin/sh"])
    r = RecordingRunner(exists=True)
    r.answers[f"pgrep -j {NAME}"] = (0, "101\n", "")
    r.answers[f"ps -o user,pid,ppid,start,time,args -J {NAME}"] = (
        0, "USER PID PPID STARTED TIME COMMAND\nroot 101 1 10:00AM 0:00.01 sleep 60\n", "")
    engine = SimpleNamespace(runtime=fj.JailDriver(r), runner=r)
    monkeypatch.setattr(inside, "_require_running", lambda c: None)
    monkeypatch.setattr(inside, "runtime_spec", lambda e, c: spec)
    headers, rows = inside.top(engine, SimpleNamespace(runtime={}))
    assert r.calls[-1] == ["ps", "-o", "user,pid,ppid,start,time,args", "-J", NAME]
    assert rows == [["root", "101", "1", "10:00AM", "0:00.01", "sleep 60"]]
    assert headers[3] == "STIME"
