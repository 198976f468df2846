"""Healthchecks end to end: HEALTHCHECK in a Dockerfile and the --health-*
flags, run by the real supervisor inside the container on real ZFS, seen
through `ps` (STATUS and --filter health=), `inspect` (State.Health) and the
engine API's wait_healthy."""

from __future__ import annotations

import json

import pytest

S = 1_000_000_000


def _state(jocker, name):
    return json.loads(jocker("inspect", name).stdout)[0]["State"]


def _status(jocker, name):
    out = jocker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}|{{.Status}}").stdout
    rows = dict(line.split("|", 1) for line in out.splitlines())
    return rows.get(name, "")


def _health(jocker, name):
    return (_state(jocker, name).get("Health") or {}).get("Status")


def test_health_flags_starting_unhealthy_healthy_and_filters(jocker, busybox_image, cleanup, wait_for):
    cleanup += ["hc-web", "hc-plain", "hc-later"]
    jocker("run", "-d", "--name", "hc-web", "--health-cmd", "test -f /tmp/ok && echo fine",
           "--health-interval", "300ms", "--health-retries", "2", busybox_image, "sleep", "300")
    jocker("run", "-d", "--name", "hc-plain", busybox_image, "sleep", "300")
    jocker("run", "-d", "--name", "hc-later", "--health-cmd", "true", "--health-interval", "1h",
           busybox_image, "sleep", "300")          # the first probe is an interval away
    cfg = json.loads(jocker("inspect", "hc-web").stdout)[0]["Config"]["Healthcheck"]
    assert cfg == {"Test": ["CMD-SHELL", "test -f /tmp/ok && echo fine"], "Interval": 300_000_000,
                   "Retries": 2}
    assert _status(jocker, "hc-later").endswith("(health: starting)")
    assert _state(jocker, "hc-later")["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": []}

    assert wait_for(lambda: _health(jocker, "hc-web") == "unhealthy", 20)
    assert _status(jocker, "hc-web").startswith("Up ") and _status(jocker, "hc-web").endswith("(unhealthy)")
    health = _state(jocker, "hc-web")["Health"]
    assert health["FailingStreak"] >= 2
    assert set(health["Log"][-1]) == {"Start", "End", "ExitCode", "Output"}
    assert health["Log"][-1]["ExitCode"] == 1

    def names(*flt):
        args = [a for f in flt for a in ("--filter", f)]
        return set(jocker("ps", *args, "--format", "{{.Names}}").stdout.split())
    ours = {"hc-web", "hc-plain", "hc-later"}
    assert names("health=unhealthy") & ours == {"hc-web"}
    assert names("health=none") & ours == {"hc-plain"}
    assert names("health=starting") & ours == {"hc-later"}
    assert names("health=starting", "health=none") & ours == {"hc-later", "hc-plain"}

    jocker("exec", "hc-web", "touch", "/tmp/ok")
    assert wait_for(lambda: _health(jocker, "hc-web") == "healthy", 20)
    assert _status(jocker, "hc-web").endswith("(healthy)")
    health = _state(jocker, "hc-web")["Health"]
    assert health["FailingStreak"] == 0 and health["Log"][-1] ["ExitCode"] == 0
    assert health["Log"][-1]["Output"] == "fine\n"
    assert wait_for(lambda: len(_state(jocker, "hc-web")["Health"]["Log"]) == 5, 20)   # Docker keeps 5
    assert "hc-web" in names("health=healthy") and "hc-web" not in names("health=starting")
    assert "(" not in _status(jocker, "hc-plain")
    assert "Health" not in _state(jocker, "hc-plain")

    p = jocker("ps", "--filter", "health=sick", check=False)
    assert p.returncode != 0 and "Unrecognised filter value for health: sick" in p.stderr

    # Stopped: ps shows no health, inspect keeps the log and says unhealthy (as Docker).
    jocker("stop", "-t", "0", "hc-web")
    assert _status(jocker, "hc-web").startswith("Exited (137)")
    health = _state(jocker, "hc-web")["Health"]
    assert health["Status"] == "unhealthy" and health["Log"]
    # Started again: starting, then healthy (the file is in the clone: /tmp/ok stayed).
    jocker("start", "hc-web")
    assert _health(jocker, "hc-web") in ("starting", "healthy")
    assert wait_for(lambda: _health(jocker, "hc-web") == "healthy", 20)


def test_dockerfile_healthcheck_stored_as_docker_and_overridden(jocker, busybox_image, images, cleanup,
                                                                tmp_path, wait_for):
    images.append("hc-image:1")
    cleanup += ["hc-img", "hc-off", "hc-more"]
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\n"
        "HEALTHCHECK --interval=200ms --timeout=2s --start-period=1m --retries=4 \\\n"
        "  CMD echo from-image\n"
        'CMD ["sleep", "300"]\n')
    jocker("build", "-q", "-t", "hc-image:1", tmp_path)
    img = json.loads(jocker("inspect", "hc-image:1").stdout)[0]
    expected = {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 200_000_000, "Timeout": 2 * S,
                "StartPeriod": 60 * S, "Retries": 4}
    assert img["Config"]["Healthcheck"] == expected

    jocker("run", "-d", "--name", "hc-img", "hc-image:1")
    assert json.loads(jocker("inspect", "hc-img").stdout)[0]["Config"]["Healthcheck"] == expected
    assert wait_for(lambda: _health(jocker, "hc-img") == "healthy", 20)
    assert _state(jocker, "hc-img")["Health"]["Log"][0]["Output"] == "from-image\n"

    jocker("run", "-d", "--name", "hc-off", "--no-healthcheck", "hc-image:1")
    assert json.loads(jocker("inspect", "hc-off").stdout)[0]["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "(" not in _status(jocker, "hc-off") and "Health" not in _state(jocker, "hc-off")

    # A flag overrides its field only; the image's command runs.
    jocker("create", "--name", "hc-more", "--health-retries", "9", "--health-cmd", "exit 3",
           "hc-image:1")
    assert json.loads(jocker("inspect", "hc-more").stdout)[0]["Config"]["Healthcheck"] == dict(
        expected, Test=["CMD-SHELL", "exit 3"], Retries=9)
    assert "Health" not in _state(jocker, "hc-more")         # created, never run: no health yet
    # In the start period, failures do not count: it stays starting.
    jocker("start", "hc-more")
    assert wait_for(lambda: len(_state(jocker, "hc-more")["Health"]["Log"]) >= 3, 20)
    health = _state(jocker, "hc-more")["Health"]
    assert health["Status"] == "starting" and health["FailingStreak"] == 0
    assert health["Log"][-1]["ExitCode"] == 3


def test_timeout_kills_the_probe_and_wait_is_unchanged(jocker, busybox_image, cleanup, wait_for):
    cleanup.append("hc-slow")
    jocker("run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 77", "--health-timeout", "500ms",
           "--health-interval", "300ms", "--health-retries", "1", busybox_image,
           "sh", "-c", "sleep 4; exit 3")
    assert wait_for(lambda: _health(jocker, "hc-slow") == "unhealthy", 20)
    entry = _state(jocker, "hc-slow")["Health"]["Log"][0]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (500ms)"
    # the timed-out probe was killed inside the container
    assert "sleep 77" not in jocker("exec", "hc-slow", "ps", "-o", "args").stdout or \
        wait_for(lambda: "sleep 77" not in jocker("exec", "hc-slow", "ps", "-o", "args").stdout, 3)
    # `wait` still waits for the exit and prints the container's own status
    assert jocker("wait", "hc-slow", timeout=60).stdout.strip() == "3"


@pytest.mark.parametrize("args, message", [
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
    (["--health-cmd", "true", "--health-interval", "5"], "invalid --health-interval '5'"),
    (["--health-cmd", "true", "--health-timeout", "-1s"], "--health-timeout cannot be negative"),
    (["--health-cmd", "true", "--health-interval", "10us"], "Interval in Healthcheck cannot be less than 1ms"),
])
def test_bad_health_flags_refused(jocker, busybox_image, args, message):
    p = jocker("run", "--rm", *args, busybox_image, "true", check=False)
    assert p.returncode == 125 and message in p.stderr
    assert jocker("ps", "-aq").stdout == ""


def test_engine_api_wait_healthy(jocker, busybox_image, engine, cleanup):
    from jocker.engine_api import JockerAPI
    from jocker.errors import Conflict, JockerError
    api = JockerAPI(engine)
    cleanup += ["hc-ok", "hc-bad", "hc-none"]
    # The start period keeps the failing probes of its first second from
    # counting: without it three 200 ms failures make it unhealthy first.
    jocker("run", "-d", "--name", "hc-ok", "--health-cmd", "test -e /tmp/ready", "--health-interval",
           "200ms", "--health-start-period", "10s", busybox_image, "sh", "-c",
           "sleep 1; touch /tmp/ready; exec sleep 300")
    jocker("run", "-d", "--name", "hc-bad", "--health-cmd", "false", "--health-interval", "200ms",
           "--health-retries", "1", busybox_image, "sleep", "300")
    jocker("run", "-d", "--name", "hc-none", busybox_image, "sleep", "300")
    health = api.containers.wait_healthy("hc-ok", timeout=20)
    assert health["Status"] == "healthy" and api.containers.health("hc-ok")["Status"] == "healthy"
    with pytest.raises(JockerError, match="container hc-bad is unhealthy"):
        api.containers.wait_healthy("hc-bad", timeout=20)
    with pytest.raises(Conflict, match="container hc-none has no healthcheck configured"):
        api.containers.wait_healthy("hc-none", timeout=5)
    assert api.containers.health("hc-none") is None
    jocker("stop", "-t", "0", "hc-ok")
    with pytest.raises(JockerError, match="is not running"):
        api.containers.wait_healthy("hc-ok", timeout=5)
    # the API's list shows Docker's Status words too
    rows = {r["Names"][0]: r["Status"] for r in api.containers.list(filters={"health": ["unhealthy"]})}
    assert list(rows) == ["/hc-bad"] and rows["/hc-bad"].endswith("(unhealthy)")


def test_health_control_message_probes_at_once(jocker, busybox_image, engine, cleanup, wait_for):
    """`health` is a control message like stop and kill: the supervisor
    answers with State.Health and runs the probe now, not an hour later."""
    from jocker.engine_api import JockerAPI
    from jocker.errors import Conflict
    api = JockerAPI(engine)
    cleanup += ["hc-now", "hc-never"]
    jocker("run", "-d", "--name", "hc-now", "--health-cmd", "echo probed", "--health-interval", "1h",
           busybox_image, "sleep", "300")
    jocker("run", "-d", "--name", "hc-never", busybox_image, "sleep", "300")
    assert api.containers.probe_health("hc-now") == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert wait_for(lambda: _health(jocker, "hc-now") == "healthy", 10)
    log = _state(jocker, "hc-now")["Health"]["Log"]
    assert len(log) == 1 and log[0]["ExitCode"] == 0 and log[0]["Output"] == "probed\n"
    assert api.containers.probe_health("hc-now")["Status"] == "healthy"
    assert api.containers.probe_health("hc-never") is None
    jocker("stop", "-t", "0", "hc-never")
    with pytest.raises(Conflict, match="is not running"):
        api.containers.probe_health("hc-never")


def test_boot_starts_a_dependent_once_its_dependency_is_healthy(jocker, busybox_image, cleanup):
    cleanup += ["hc-db", "hc-app"]
    jocker("create", "--name", "hc-db", "--restart", "always", "--health-cmd", "test -e /tmp/up",
           "--health-interval", "1h", "--health-start-period", "60s", "--health-start-interval", "200ms",
           busybox_image, "sh", "-c", "sleep 3; touch /tmp/up; exec sleep 300")
    jocker("create", "--name", "hc-app", "--restart", "always", "--depends-on", "hc-db",
           busybox_image, "sleep", "300")
    out = jocker("system", "boot").stdout
    assert "hc-db: started" in out and "hc-app: started\n" in out + "\n"
    db, app = _state(jocker, "hc-db"), _state(jocker, "hc-app")
    # Probes every start interval until healthy, then hourly: one success, the last.
    assert [e["ExitCode"] for e in db["Health"]["Log"]][-2:] == [1, 0]
    healthy_at = db["Health"]["Log"][-1]["End"]
    assert db["Health"]["FailingStreak"] == 0      # the failures were in the start period
    assert app["StartedAt"] > healthy_at                    # app waited for db's healthcheck


def test_a_killed_supervisor_leaves_an_unhealthy_container(jocker, busybox_image, jocker_env, cleanup,
                                                          wait_for):
    import os
    import signal
    cleanup.append("hc-victim")
    cid = jocker("run", "-d", "--name", "hc-victim", "--health-cmd", "true", "--health-interval", "200ms",
                 busybox_image, "sleep", "300").stdout.strip()
    assert wait_for(lambda: _health(jocker, "hc-victim") == "healthy", 20)
    info = json.load(open(os.path.join(jocker_env["JOCKER_RUNDIR"], cid, "supervisor.json")))
    os.kill(info["pid"], signal.SIGKILL)
    assert wait_for(lambda: _status(jocker, "hc-victim").startswith("Exited (255)"))
    assert _health(jocker, "hc-victim") == "unhealthy"          # no check runs any more
    assert "hc-victim" in jocker("ps", "-a", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout
