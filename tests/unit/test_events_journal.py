"""The event journal: many writer processes, bounded size, readers that
follow it across rotations, Docker's filters and time forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

import jocker
from jocker.errors import UsageError
from jocker.events import journal, query
from jocker.format import event_line, event_view, render_template
from jocker.times import parse_point

ROOT = os.path.dirname(os.path.dirname(jocker.__file__))

WRITER = r"""
import sys
from jocker.events import journal
path, who, n, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    journal.append(path, journal.message("container", "exec_start: " + "x" * 300, who,
                                         {"seq": str(i), "name": who}), max_bytes=cap)
"""


def _all_lines(path: str) -> list[dict]:
    out = []
    for p in (path + journal.OLD_SUFFIX, path):
        if os.path.exists(p):
            with open(p, "rb") as f:
                for line in f:
                    out.append(json.loads(line))        # a torn line would fail here
    return out


def test_concurrent_writer_processes_never_tear_a_line(tmp_path):
    path = str(tmp_path / "events.jsonl")
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, f"w{k}", "400", str(10 << 20)], env=env)
             for k in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = _all_lines(path)
    assert len(lines) == 1600
    for k in range(4):      # each writer's events, all there and in its own order
        seqs = [int(m["Actor"]["Attributes"]["seq"]) for m in lines if m["id"] == f"w{k}"]
        assert seqs == list(range(400))


def test_rotation_bounds_the_journal_and_loses_no_line_while_writers_race(tmp_path):
    path = str(tmp_path / "events.jsonl")
    cap = 64 << 10
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, f"w{k}", "300", str(cap)], env=env)
             for k in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    size = os.path.getsize(path)
    old = os.path.getsize(path + journal.OLD_SUFFIX)
    line = len(json.dumps(journal.message("container", "exec_start: " + "x" * 300, "w0",
                                          {"seq": "299", "name": "w0"}), separators=(",", ":"))) + 1
    assert size <= cap + line and old <= cap + line        # two generations at most
    lines = _all_lines(path)
    assert 0 < len(lines) < 900                            # older generations were dropped
    for k in range(3):      # what is kept is each writer's latest events, contiguous
        seqs = [int(m["Actor"]["Attributes"]["seq"]) for m in lines if m["id"] == f"w{k}"]
        assert seqs == list(range(300 - len(seqs), 300))


def test_message_has_dockers_shape():
    m = journal.message("container", "die", "c" * 64, {"image": "alpine", "name": "web", "exitCode": 3},
                        time_ns=1795856400123456789)
    assert m == {"status": "die", "id": "c" * 64, "from": "alpine", "Type": "container", "Action": "die",
                 "Actor": {"ID": "c" * 64, "Attributes": {"exitCode": "3", "image": "alpine", "name": "web"}},
                 "scope": "local", "time": 1795856400, "timeNano": 1795856400123456789}
    assert list(m["Actor"]["Attributes"]) == ["exitCode", "image", "name"]    # sorted, as Go's maps
    v = journal.message("volume", "create", "data", {"driver": "local"})
    assert "status" not in v and "id" not in v and v["Actor"] == {"ID": "data", "Attributes": {"driver": "local"}}


def test_emit_makes_the_run_directory_and_never_raises(tmp_path):
    path = tmp_path / "run" / "events.jsonl"
    journal.emit(str(path), "container", "start", "x")
    assert json.loads(path.read_text())["Action"] == "start"
    assert (path.parent.stat().st_mode & 0o777, path.stat().st_mode & 0o777) == (0o700, 0o600)
    (tmp_path / "file").write_text("")
    journal.emit(str(tmp_path / "file" / "events.jsonl"), "container", "start", "x")   # not a directory


def _write(path, *events):
    for type_, action, ident, attrs, t in events:
        journal.append(path, journal.message(type_, action, ident, attrs, time_ns=int(t * 1e9)))


def test_since_until_and_filters(tmp_path):
    path = str(tmp_path / "events.jsonl")
    a, b = "a" * 64, "b" * 64
    _write(path,
           ("container", "create", a, {"image": "alpine", "name": "web", "tier": "front"}, 100),
           ("container", "start", a, {"image": "alpine", "name": "web", "tier": "front"}, 101),
           ("container", "health_status: healthy", a, {"image": "alpine", "name": "web"}, 102),
           ("container", "die", b, {"image": "busybox:1.36", "name": "db", "exitCode": "3"}, 103),
           ("image", "tag", "sha256:" + "c" * 64, {"name": "alpine:edge"}, 104),
           ("volume", "create", "data", {"driver": "local"}, 105),
           ("network", "connect", "d" * 64, {"name": "bridge", "type": "bridge", "container": a}, 106))

    def ask(filters=None, since=0, until=200):
        return [(m["Type"], m["Action"]) for m in
                query.events(path, since=since, until=until, filters=filters, follow=False)]
    assert len(ask()) == 7
    assert ask(since=102, until=104) == [("container", "health_status: healthy"), ("container", "die"),
                                        ("image", "tag")]
    assert ask({"container": ["web"]}) == [("container", "create"), ("container", "start"),
                                           ("container", "health_status: healthy")]
    assert ask({"container": ["bbbb"]}) == [("container", "die")]            # an ID prefix
    assert ask({"container": ["d"]}) == [("container", "die")]               # a name prefix, as moby
    assert ask({"event": ["health_status"]}) == [("container", "health_status: healthy")]
    assert ask({"event": ["die", "create"]}) == [("container", "create"), ("container", "die"),
                                                 ("volume", "create")]
    assert ask({"type": ["volume", "network"]}) == [("volume", "create"), ("network", "connect")]
    assert ask({"label": ["tier=front"]}) == [("container", "create"), ("container", "start")]
    assert ask({"label": ["tier"], "event": ["start"]}) == [("container", "start")]
    assert ask({"image": ["alpine"]}) == [("container", "create"), ("container", "start"),
                                          ("container", "health_status: healthy"), ("image", "tag")][:3]
    assert ask({"image": ["busybox:1.36"]}) == [("container", "die")]
    assert ask({"volume": ["data"]}) == [("volume", "create")]
    assert ask({"network": ["bridge"]}) == [("network", "connect")]
    with pytest.raises(UsageError, match="invalid filter 'colour'"):
        query.EventFilter({"colour": ["red"]})


def test_follow_sees_new_events_across_a_rotation_and_stops(tmp_path):
    path = str(tmp_path / "events.jsonl")
    seen: list[str] = []
    stop = threading.Event()

    def reader():
        for m in query.events(path, filters={"type": ["container"]}, should_stop=stop.is_set, poll=0.02):
            seen.append(m["Actor"]["Attributes"]["seq"])
    _write(path, ("container", "start", "x", {"seq": "old"}, time.time()))   # before: not shown
    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    for i in range(200):        # about 30 a generation: several rotations while it reads
        journal.append(path, journal.message("container", "start", "x", {"seq": str(i), "pad": "p" * 200}),
                       max_bytes=8 << 10)
        time.sleep(0.002)
    assert os.path.exists(path + journal.OLD_SUFFIX)
    deadline = time.time() + 10
    while len(seen) < 200 and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert seen == [str(i) for i in range(200)]


def test_until_in_the_future_ends_the_stream(tmp_path):
    path = str(tmp_path / "events.jsonl")
    start = time.time()
    got = list(query.events(path, since=start - 1, until=start + 0.5, poll=0.02))
    assert got == [] and 0.4 < time.time() - start < 5


def test_time_forms():
    now = 1795856400.0
    assert parse_point("10m", now=now) == now - 600
    assert parse_point("1h30m", now=now) == now - 5400
    assert parse_point("-5s", now=now) == now + 5
    assert parse_point("1795856400.5") == 1795856400.5
    assert parse_point("2026-11-28T09:00:00Z") == 1795856400.0
    assert parse_point("2026-11-28T09:00:00.123456789Z") == pytest.approx(1795856400.123456)
    assert parse_point("2026-11-28T10:00:00+01:00") == 1795856400.0
    with pytest.raises(UsageError, match="invalid --until value 'soon'"):
        parse_point("soon", "--until")


def test_default_line_and_template_view(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    m = journal.message("container", "start", "f" * 64, {"name": "web", "image": "alpine"},
                        time_ns=1795856400000000042)
    assert event_line(m) == ("2026-11-28T09:00:00.000000042Z container start " + "f" * 64 +
                             " (image=alpine, name=web)")
    assert render_template("{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Status}} {{.From}} {{.Time}}",
                           event_view(m)) == "container start web start alpine 1795856400"
