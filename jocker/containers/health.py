"""Healthchecks as Docker runs them (moby daemon/health.go, in our words).

A container's `Config.Healthcheck` is Docker's HealthConfig: `Test` (["NONE"],
["CMD", argv...] or ["CMD-SHELL", "command"]), `Interval`, `Timeout`,
`StartPeriod`, `StartInterval` (nanoseconds, 0 or absent: the default) and
`Retries`. The supervisor runs the probe inside the container on that
schedule (Monitor, below: no thread, it is ticked from the supervisor's own
loop) and keeps Docker's `State.Health` in `<rundir>/<id>/health.json`,
written atomically, so `ps` and `inspect` read it without writing anything:

    {"Status": "starting"|"healthy"|"unhealthy", "FailingStreak": n,
     "Log": [{"Start", "End", "ExitCode", "Output"}, ...]}   the last 5 probes

The rules: the first probe runs one interval after the start (StartInterval,
5s by default, while the start period lasts and the container is still
starting); exit 0 is healthy and resets the failing streak; any other result
(a timeout is exit -1) adds to the streak, except a failure while still
starting inside the start period; the streak reaching Retries (3 by default)
makes it unhealthy. When the container stops, the status becomes unhealthy
(as Docker does when its monitor stops); the next start begins at starting.

Small on purpose: the supervisor imports it (os, json, time, signal only).
"""

from __future__ import annotations

import json
import os
import signal
import time

from .. import rundir as RD
from ..atomic import write_json
from ..errors import UsageError
from ..times import now_rfc3339

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
STATUSES = (STARTING, HEALTHY, UNHEALTHY, NONE)      # NONE: no healthcheck (ps --filter)

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG = 5                   # results kept in State.Health.Log
MAX_OUTPUT = 4096             # bytes of a probe's output kept
MIN_DURATION_NS = 1_000_000   # Docker refuses non-zero durations under 1ms
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
DEFAULT_SHELL = ("/bin/sh", "-c")


# -- configuration (pure) -------------------------------------------------------

def merge(image_hc: dict | None, user_hc: dict | None) -> dict | None:
    """The container's healthcheck: the user's, completed by the image's
    (an empty Test, a zero duration or zero Retries take the image's value)."""
    if not user_hc:
        return dict(image_hc) if image_hc else None
    out = dict(user_hc)
    for key in ("Test", *DURATIONS, "Retries"):
        if not out.get(key) and (image_hc or {}).get(key):
            out[key] = image_hc[key]
    return {k: v for k, v in out.items() if v}


def validate(hc: dict | None) -> None:
    """Docker's checks on a create request's Healthcheck, one line each."""
    if hc is None:
        return
    if not isinstance(hc, dict):
        raise UsageError("invalid Healthcheck: it must be a JSON object")
    test = hc.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(w, str) for w in test):
        raise UsageError(f"invalid Healthcheck.Test {test!r}: it must be a list of strings")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise UsageError(f"unknown healthcheck type {test[0]!r}", hint="use NONE, CMD or CMD-SHELL")
    if test and test[0] != "NONE" and not any(test[1:]):
        raise UsageError(f"healthcheck {test[0]} needs a command")
    for key in (*DURATIONS, "Retries"):
        value = hc.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise UsageError(f"invalid Healthcheck.{key} {value!r}: it must be an integer")
        if key == "Retries":
            if value < 0:
                raise UsageError("Retries in Healthcheck cannot be negative")
        elif value and value < MIN_DURATION_NS:
            raise UsageError(f"{key} in Healthcheck cannot be less than 1ms")


def schedule(hc: dict | None, shell: list[str] | None = None) -> dict | None:
    """What the supervisor needs to run the check (seconds, the probe's argv),
    or None when there is no check (none configured, or Test is NONE)."""
    test = (hc or {}).get("Test") or []
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    # CMD-SHELL: the shell, then Test's words as moby passes them (sh -c WORD [ARG0 ARGS...]).
    argv = list(test[1:]) if test[0] == "CMD" else [*(shell or DEFAULT_SHELL), *test[1:]]

    def seconds(key: str, default: float) -> float:
        return (hc.get(key) or 0) / NS or default

    return {"argv": argv, "interval": seconds("Interval", DEFAULT_INTERVAL),
            "timeout": seconds("Timeout", DEFAULT_TIMEOUT),
            "start_period": seconds("StartPeriod", 0.0),
            "start_interval": seconds("StartInterval", DEFAULT_START_INTERVAL),
            "retries": int(hc.get("Retries") or 0) or DEFAULT_RETRIES}


def patience(sched: dict) -> float:
    """Seconds in which a check on this schedule has decided: the start
    period, then every retry's interval and timeout, and one more."""
    return sched["start_period"] + (sched["retries"] + 1) * (sched["interval"] + sched["timeout"])


def go_duration(seconds: float) -> str:
    """Go's time.Duration text, as Docker prints it in the timeout message: 30s, 1m30s, 500ms."""
    ns = int(round(seconds * NS))
    if ns < NS:
        for unit, size in (("ms", 10**6), ("µs", 10**3)):
            if ns >= size:
                return f"{ns / size:g}{unit}"
        return f"{ns}ns"
    h, rest = divmod(ns, 3600 * NS)
    m, rest = divmod(rest, 60 * NS)
    text = f"{rest / NS:.9f}".rstrip("0").rstrip(".") + "s"
    return (f"{h}h{m}m" if h else f"{m}m" if m else "") + text


def label(status: str) -> str:
    """How `ps` shows a running container's health: `(healthy)`, `(health: starting)`."""
    return "health: starting" if status == STARTING else status


# -- the state machine (pure) ------------------------------------------------------

class HealthState:
    """Docker's State.Health and the rule that moves it."""

    def __init__(self, sched: dict, started: float):
        self.sched = sched
        self.started = started            # the container's start (epoch seconds)
        self.status = STARTING
        self.failing_streak = 0
        self.log: list[dict] = []

    def record(self, start: float, end: float, exit_code: int, output: str) -> None:
        self.log = (self.log + [{"Start": now_rfc3339(start), "End": now_rfc3339(end), "ExitCode": exit_code,
                                 "Output": output}])[-MAX_LOG:]
        if exit_code == 0:
            self.failing_streak = 0
            self.status = HEALTHY
            return
        if self.status == STARTING and start - self.started < self.sched["start_period"]:
            return                        # failures while starting up do not count
        self.failing_streak += 1
        if self.failing_streak >= self.sched["retries"]:
            self.status = UNHEALTHY

    def next_delay(self, now: float) -> float:
        """Seconds from now to the next probe."""
        if self.status == STARTING and now - self.started < self.sched["start_period"]:
            return self.sched["start_interval"]
        return self.sched["interval"]

    def to_json(self) -> dict:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": list(self.log)}


# -- the file ps and inspect read ---------------------------------------------------

def path(rundir: str) -> str:
    return RD.path(rundir, RD.HEALTH_JSON)


def write(rundir: str, health: dict) -> None:
    write_json(path(rundir), health)


def read(rundir: str) -> dict | None:
    """The last State.Health the supervisor wrote, or None."""
    try:
        with open(path(rundir)) as f:
            health = json.load(f)
    except (OSError, ValueError):
        return None
    return health if isinstance(health, dict) and health.get("Status") in STATUSES else None


# -- running the probe (in the supervisor) -------------------------------------------

class Monitor:
    """Runs the probe from the supervisor's loop: tick() starts it when it is
    due and reaps or times it out; read() takes its output when the
    supervisor's selector says so. command(argv) is the runtime driver's
    probe command (a ProcessCommand); start(...) is the runner's start."""

    def __init__(self, sched: dict, rundir: str, sel, command, start, *, clock=time.time, on_event=None):
        self.sched, self.rundir, self.sel = sched, rundir, sel
        # on_event(action, **attributes): the container events Docker reports
        # for a probe (exec_create/exec_start/exec_die, as any exec) and for
        # a change of status (`health_status: healthy`)
        self.on_event = on_event or (lambda action, **attrs: None)
        self.exec_id = ""
        self.command, self.start = command, start
        self.clock = clock
        now = clock()
        self.state = HealthState(sched, now)
        self.proc = None
        self.fd: int | None = None
        self.output = b""
        self.probe_start = 0.0
        self.due = now + self.state.next_delay(now)
        self.deadline = 0.0
        self._save()

    def _save(self) -> None:
        try:
            write(self.rundir, self.state.to_json())
        except OSError:
            pass                         # a full disk must not kill the container

    def tick(self) -> None:
        now = self.clock()
        if self.proc is None:
            if now >= self.due:
                self._launch(now)
            return
        if self.proc.poll() is not None:
            code = self.proc.returncode
            self._done(128 - code if code < 0 else code)
        elif now >= self.deadline:
            self._kill()
            self._done(-1, f"Health check exceeded timeout ({go_duration(self.sched['timeout'])})")

    def _launch(self, now: float) -> None:
        from ..host import process
        self.probe_start = now
        self.output = b""
        try:
            cmd = self.command(list(self.sched["argv"]))
            self.proc = self.start(cmd.argv, env=cmd.env or None, child_main=cmd.in_child,
                                   stdin=process.DEVNULL, stdout=process.PIPE, stderr=process.STDOUT,
                                   new_session=True)
        except Exception as e:           # no probe at all: a failed result, as Docker's exec error
            self.proc = None
            self._result(-1, str(e))
            return
        self.exec_id = os.urandom(32).hex()
        what = " ".join(self.sched["argv"])
        self.on_event("exec_create: " + what, execID=self.exec_id)
        self.on_event("exec_start: " + what, execID=self.exec_id)
        self.deadline = now + self.sched["timeout"]
        self.fd = self.proc.stdout
        os.set_blocking(self.fd, False)
        self.sel.register(self.fd, 1, "health")        # 1: selectors.EVENT_READ

    def read(self) -> None:
        """The probe wrote something (or closed its output)."""
        if self.fd is None:
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_fd()
            return
        self.output = (self.output + data)[:MAX_OUTPUT]

    def _close_fd(self) -> None:
        if self.fd is not None:
            try:
                self.sel.unregister(self.fd)
            except (KeyError, ValueError):
                pass
            os.close(self.fd)
            self.fd = None

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # the probe and whatever it started
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def _done(self, exit_code: int, message: str | None = None) -> None:
        while self.fd is not None and message is None:
            before = len(self.output)
            self.read()                  # what is left in the pipe
            if self.fd is not None and len(self.output) == before:
                break                    # something it started holds the pipe open
        self._close_fd()
        self.proc = None
        self.on_event("exec_die", execID=self.exec_id, exitCode=exit_code)
        self._result(exit_code, message if message is not None
                     else self.output.decode("utf-8", "replace"))

    def _result(self, exit_code: int, output: str) -> None:
        end = self.clock()
        before = self.state.status
        self.state.record(self.probe_start, end, exit_code, output)
        self.due = end + self.state.next_delay(end)
        self._save()
        if self.state.status != before:
            self.on_event("health_status: " + self.state.status)

    def probe_now(self) -> None:
        """The next tick runs the probe (the `health` control message), unless
        one is running already."""
        if self.proc is None:
            self.due = self.clock()

    def stop(self) -> None:
        """The container stopped: no probe runs on, and the status reads
        unhealthy (Docker's monitor does the same when it stops)."""
        if self.proc is not None:
            self._kill()
            self._close_fd()
            self.proc = None
        self.state.status = UNHEALTHY
        self._save()
