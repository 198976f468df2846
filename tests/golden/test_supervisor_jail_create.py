"""On FreeBSD the supervisor creates the jail through a short-lived helper
process (jinja2 stays out of the long-lived supervisor)."""

from __future__ import annotations

import sys

from jocker.containers.supervisor import Supervisor
from jocker.host.runner import Result, Runner


class Recording(Runner):
    def __init__(self):
        super().__init__()
        self.calls = []

    def run(self, argv, **kw):
        self.calls.append(list(argv))
        return Result(list(argv), 0, "", "")


def test_jail_runtime_creates_through_the_helper(tmp_path):
    job = {"runtime": "jail", "rundir": str(tmp_path), "log_path": str(tmp_path / "log"),
           "spec": {"id": "a" * 64, "name": "t", "rootfs": "/nonexistent", "rundir": str(tmp_path),
                    "argv": ["/bin/sh"]}}
    sup = Supervisor(job, -1, str(tmp_path / "job.json"))
    sup.runner = Recording()
    sup._create()
    assert sup.runner.calls == [[sys.executable, "-c", "from jocker.runtime.jail_create import main; main()",
                                 str(tmp_path / "job.json")]]


def test_helper_failure_becomes_a_jocker_error_with_its_exit_code(tmp_path):
    class Failing(Recording):
        def run(self, argv, **kw):
            return Result(list(argv), 125, "", "resource limits need racct: add kern.racct.enable=1\n")
    job = {"runtime": "jail", "rundir": str(tmp_path), "log_path": str(tmp_path / "log"),
           "spec": {"id": "b" * 64, "name": "t", "rootfs": "/nonexistent", "rundir": str(tmp_path),
                    "argv": ["/bin/sh"]}}
    sup = Supervisor(job, -1, str(tmp_path / "job.json"))
    sup.runner = Failing()
    try:
        sup._create()
    except Exception as e:
        assert "racct" in str(e) and e.kind == "engine"
    else:
        raise AssertionError("a failed helper must raise")


def test_jail_health_probe_reuses_the_main_process_plan_without_host_commands(tmp_path):
    """A healthcheck probe on FreeBSD: the plan create wrote (jid, user,
    groups, workdir, environment resolved once) with the probe's argv, run by
    jail_exec in the supervisor's forked child; no jls, no passwd lookup."""
    import json
    from jocker.runtime import jail_exec
    plan = {"jid": 7, "uid": 80, "gid": 80, "groups": [80, 5], "workdir": "/srv",
            "argv": ["/usr/local/sbin/httpd", "-DFOREGROUND"], "env": {"PATH": "/bin", "MARK": "x"}}
    (tmp_path / "process.json").write_text(json.dumps(plan))
    job = {"runtime": "jail", "rundir": str(tmp_path), "log_path": str(tmp_path / "log"),
           "spec": {"id": "c" * 64, "name": "t", "rootfs": "/nonexistent", "rundir": str(tmp_path),
                    "argv": ["/bin/sh"]}}
    sup = Supervisor(job, -1, str(tmp_path / "job.json"))
    sup.driver.runner = sup.runner = Recording()
    cmd = sup.driver.health_command(sup.spec, ["/bin/sh", "-c", "fetch -qo /dev/null http://localhost/"], None)
    assert sup.runner.calls == []
    want = dict(plan, argv=["/bin/sh", "-c", "fetch -qo /dev/null http://localhost/"])
    assert isinstance(cmd.in_child, jail_exec.InJail) and cmd.in_child.plan == want
    assert cmd.argv[-1] == json.dumps(want)
    assert json.loads((tmp_path / "process.json").read_text()) == plan     # the main plan unchanged
