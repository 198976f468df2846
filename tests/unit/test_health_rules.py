"""Healthchecks: Docker's HealthConfig rules (merge, validation, schedule),
the starting -> healthy/unhealthy state machine, the run/create flags, and
the supervisor's Monitor driving real host processes (output, timeout kill)."""

from __future__ import annotations

import os
import selectors
import time

import pytest

from jocker.containers import health as H
from jocker.engine_api.requests import CreateRequest, parse_health_flags
from jocker.errors import UsageError
from jocker.host.runner import Runner
from jocker.runtime.base import ProcessCommand

S = H.NS


def test_merge_takes_what_the_user_left_out_from_the_image():
    image = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * S, "Retries": 4}
    assert H.merge(image, None) == image
    assert H.merge(None, {"Test": ["CMD", "true"]}) == {"Test": ["CMD", "true"]}
    # --health-retries alone keeps the image's command and interval
    assert H.merge(image, {"Retries": 9}) == {"Test": ["CMD-SHELL", "curl -f localhost"],
                                               "Interval": 5 * S, "Retries": 9}
    assert H.merge(image, {"Test": ["NONE"]}) == {"Test": ["NONE"], "Interval": 5 * S, "Retries": 4}
    assert H.merge(None, None) is None


def test_schedule_from_health_config():
    sched = H.schedule({"Test": ["CMD-SHELL", "test -f /ok"]})
    assert sched == {"argv": ["/bin/sh", "-c", "test -f /ok"], "interval": 30.0, "timeout": 30.0,
                     "start_period": 0.0, "start_interval": 5.0, "retries": 3}
    sched = H.schedule({"Test": ["CMD", "/bin/check", "--quick"], "Interval": S // 2,
                        "Timeout": 2 * S, "StartPeriod": 10 * S, "StartInterval": S, "Retries": 1})
    assert sched == {"argv": ["/bin/check", "--quick"], "interval": 0.5, "timeout": 2.0,
                     "start_period": 10.0, "start_interval": 1.0, "retries": 1}
    # the image's SHELL runs CMD-SHELL checks
    assert H.schedule({"Test": ["CMD-SHELL", "x"]}, ["/bin/ash", "-eo"])["argv"] == ["/bin/ash", "-eo", "x"]
    for off in (None, {}, {"Test": []}, {"Test": ["NONE"]}, {"Interval": S}):
        assert H.schedule(off) is None


@pytest.mark.parametrize("hc, message", [
    ({"Test": ["HTTP", "x"]}, "unknown healthcheck type 'HTTP'"),
    ({"Test": ["CMD-SHELL"]}, "healthcheck CMD-SHELL needs a command"),
    ({"Test": "true"}, "must be a list of strings"),
    ({"Test": ["CMD", "true"], "Interval": 999}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Test": ["CMD", "true"], "Timeout": 5}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"Test": ["CMD", "true"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
    ({"Test": ["CMD", "true"], "Interval": "1s"}, "Healthcheck.Interval '1s': it must be an integer"),
])
def test_create_request_refuses_bad_healthchecks(hc, message):
    with pytest.raises(UsageError, match=message):
        CreateRequest.from_api({"Image": "busybox", "Healthcheck": hc})


def test_api_healthcheck_round_trips():
    hc = {"Test": ["CMD", "true"], "Interval": 2 * S, "Retries": 2}
    req = CreateRequest.from_api({"Image": "busybox", "Healthcheck": hc})
    assert req.config.Healthcheck == hc
    assert CreateRequest.from_api(req.to_api()).config.Healthcheck == hc


def test_docker_py_healthcheck_with_nulls_is_accepted():
    """docker-py's Healthcheck sends every key, null when unset (compose 1.29 goes through it)."""
    body = {"Image": "busybox", "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": None,
                                                "Timeout": None, "Retries": None, "StartPeriod": None}}
    hc = CreateRequest.from_api(body).config.Healthcheck
    assert H.schedule(hc)["argv"] == ["/bin/sh", "-c", "true"] and H.schedule(hc)["retries"] == 3
    assert H.merge({"Test": ["CMD", "x"], "Interval": S}, hc) == {"Test": ["CMD-SHELL", "true"],
                                                                   "Interval": S}


def test_run_flags_as_docker_cli_builds_them():
    assert parse_health_flags() is None
    assert parse_health_flags(cmd="test -f /ok", interval="1m30s", timeout="500ms", start_period="10s",
                              start_interval="1s", retries=5) == {
        "Test": ["CMD-SHELL", "test -f /ok"], "Interval": 90 * S, "Timeout": S // 2,
        "StartPeriod": 10 * S, "StartInterval": S, "Retries": 5}
    # without --health-cmd the image's command stays (Test left out)
    assert parse_health_flags(retries=7) == {"Retries": 7}
    assert parse_health_flags(disabled=True) == {"Test": ["NONE"]}
    with pytest.raises(UsageError, match="--no-healthcheck conflicts with --health-\\* options"):
        parse_health_flags(disabled=True, cmd="true")
    with pytest.raises(UsageError, match="--health-interval cannot be negative"):
        parse_health_flags(interval="-1s")
    with pytest.raises(UsageError, match="invalid --health-timeout '5'"):
        parse_health_flags(timeout="5")
    with pytest.raises(UsageError, match="--health-retries cannot be negative"):
        parse_health_flags(retries=-2)


def test_state_machine_retries_streak_and_log():
    st = H.HealthState(H.schedule({"Test": ["CMD", "x"], "Retries": 2}), started=1000.0)
    assert st.to_json() == {"Status": "starting", "FailingStreak": 0, "Log": []}
    st.record(1001, 1001.5, 1, "no\n")
    assert (st.status, st.failing_streak) == ("starting", 1)
    st.record(1002, 1002.5, 1, "no\n")
    assert (st.status, st.failing_streak) == ("unhealthy", 2)
    st.record(1003, 1003.5, 0, "ok\n")
    assert (st.status, st.failing_streak) == ("healthy", 0)
    st.record(1004, 1004.5, 1, "no\n")           # one failure: still healthy
    assert (st.status, st.failing_streak) == ("healthy", 1)
    for i in range(5):
        st.record(1010 + i, 1010.25 + i, -1, f"run {i}")
    log = st.to_json()["Log"]
    assert len(log) == H.MAX_LOG and log[-1]["Output"] == "run 4" and log[0]["Output"] == "run 0"
    assert log[-1]["Start"] == "1970-01-01T00:16:54.000000000Z"
    assert log[-1]["End"] == "1970-01-01T00:16:54.250000000Z" and log[-1]["ExitCode"] == -1


def test_start_period_failures_do_not_count_and_use_the_start_interval():
    sched = H.schedule({"Test": ["CMD", "x"], "Retries": 1, "StartPeriod": 10 * S,
                        "Interval": 60 * S, "StartInterval": 2 * S})
    st = H.HealthState(sched, started=0.0)
    assert st.next_delay(0.0) == 2.0                    # starting, inside the start period
    st.record(2, 3, 1, "")
    assert (st.status, st.failing_streak) == ("starting", 0)
    assert st.next_delay(3.0) == 2.0
    st.record(11, 12, 1, "")                            # after the start period: it counts
    assert (st.status, st.failing_streak) == ("unhealthy", 1)
    assert st.next_delay(12.0) == 60.0
    st2 = H.HealthState(sched, started=0.0)
    st2.record(2, 3, 0, "")                              # healthy ends the start interval
    assert st2.next_delay(3.0) == 60.0


def test_patience_covers_the_start_period_and_every_retry():
    assert H.patience(H.schedule({"Test": ["CMD", "x"]})) == 240.0
    assert H.patience(H.schedule({"Test": ["CMD", "x"], "Interval": S, "Timeout": S,
                                  "StartPeriod": 10 * S, "Retries": 1})) == 14.0


def test_go_duration_text():
    assert [H.go_duration(s) for s in (30, 90, 0.5, 1.5, 3600, 3725, 0.0005)] == \
        ["30s", "1m30s", "500ms", "1.5s", "1h0m0s", "1h2m5s", "500µs"]


def test_status_labels():
    assert [H.label(s) for s in ("starting", "healthy", "unhealthy")] == \
        ["health: starting", "healthy", "unhealthy"]


def _monitor(tmp_path, argv, **kw):
    sched = H.schedule({"Test": ["CMD", *argv], "Interval": S // 10, "Timeout": kw.get("timeout", 2 * S),
                        "Retries": kw.get("retries", 1)})
    sel = selectors.DefaultSelector()
    mon = H.Monitor(sched, str(tmp_path), sel, lambda a: ProcessCommand(a, dict(os.environ)),
                    Runner().start)
    return mon, sel


def _run_until(mon, sel, cond, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end and not cond():
        for key, _ in sel.select(0.05):
            assert key.data == "health"
            mon.read()
        mon.tick()
    assert cond()


def test_monitor_runs_real_probes_and_writes_health_json(tmp_path):
    mon, sel = _monitor(tmp_path, ["sh", "-c", "echo checked; echo oops >&2; exit 0"])
    assert H.read(str(tmp_path)) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    _run_until(mon, sel, lambda: len(mon.state.log) >= 2)
    h = H.read(str(tmp_path))
    assert h["Status"] == "healthy" and h["FailingStreak"] == 0
    assert h["Log"][0]["ExitCode"] == 0 and h["Log"][0]["Output"] == "checked\noops\n"
    assert h["Log"][0]["Start"] <= h["Log"][0]["End"] < h["Log"][1]["Start"]
    mon.stop()
    assert H.read(str(tmp_path))["Status"] == "unhealthy"        # as Docker, once stopped
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_monitor_times_out_and_kills_the_probe_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    mon, sel = _monitor(tmp_path, ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"],
                        timeout=S // 2)
    t0 = time.monotonic()
    _run_until(mon, sel, lambda: mon.state.log)
    assert time.monotonic() - t0 < 5
    entry = mon.state.log[0]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (500ms)"
    assert mon.state.status == "unhealthy"
    child = int(pidfile.read_text())
    end = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < end:
        time.sleep(0.05)
    assert _gone(child), "the probe's own child outlived the timeout"
    mon.stop()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"     # killed, not yet reaped
    except (ProcessLookupError, FileNotFoundError):
        return True


def test_monitor_output_is_capped_and_exit_codes_kept(tmp_path):
    mon, sel = _monitor(tmp_path, ["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; exit 2"])
    _run_until(mon, sel, lambda: mon.state.log)
    entry = mon.state.log[0]
    assert entry["ExitCode"] == 2 and entry["Output"] == "x" * H.MAX_OUTPUT
    mon.stop()


def test_monitor_records_a_probe_that_cannot_start(tmp_path):
    mon, sel = _monitor(tmp_path, ["/nonexistent/probe"])
    _run_until(mon, sel, lambda: mon.state.log)
    assert mon.state.log[0]["ExitCode"] == -1 and "/nonexistent/probe" in mon.state.log[0]["Output"]
    mon.stop()
