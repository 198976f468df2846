"""/containers/*: list, create, inspect, start/stop/restart/kill, wait,
logs, attach, resize, top, rename, delete, prune, changes, export."""

from __future__ import annotations

import logging
import queue
import time

from ..containers import frames
from ..errors import Conflict, UsageError
from . import backend, streams
from .routes import route
from .status import NotModified
from .wire import MULTIPLEXED, RAW_STREAM

log = logging.getLogger("jocker.api")
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


@route("GET", "/containers/json")
def list_(req):
    req.send_json(backend.list_containers(all_=req.flag("all"), filters=req.filters(),
                                          limit=req.int_arg("limit", 0) or 0, size=req.flag("size")))


@route("POST", "/containers/create")
def create(req):
    body = req.json_body(required=True)
    cid, warnings = backend.create_container(req.arg("name"), body)
    req.send_json({"Id": cid, "Warnings": warnings}, 201)


@route("GET", "/containers/{ref}/json")
def inspect(req, ref):
    req.send_json(backend.inspect_container(ref, size=req.flag("size")))


@route("POST", "/containers/{ref}/start")
def start(req, ref):
    req.body.drain(1 << 20)         # docker-py may send an empty JSON object
    cid, _, running = backend.container_is_tty(ref)
    if running:
        raise NotModified()
    waiters = streams.take_waiters(cid)
    try:
        if waiters:
            conn = backend.start_container(cid, attach=True)
            if conn is None:
                raise NotModified()
            waiters[0].put(conn)
        elif backend.start_container(cid) is None:
            raise NotModified()
    except BaseException:
        for q in waiters:
            q.put(None)
        raise
    for q in waiters[1:]:
        q.put("running")
    req.send_empty(204)


@route("POST", "/containers/{ref}/stop")
def stop(req, ref):
    t = req.int_arg("t")
    if not backend.stop_container(ref, t, req.arg("signal") or None):
        raise NotModified()
    req.send_empty(204)


@route("POST", "/containers/{ref}/restart")
def restart(req, ref):
    backend.restart_container(ref, req.int_arg("t"))
    req.send_empty(204)


@route("POST", "/containers/{ref}/kill")
def kill(req, ref):
    backend.kill_container(ref, req.arg("signal") or "SIGKILL")
    req.send_empty(204)


@route("POST", "/containers/{ref}/pause")
def pause(req, ref):
    backend.pause_container(ref, True)
    req.send_empty(204)


@route("POST", "/containers/{ref}/unpause")
def unpause(req, ref):
    backend.pause_container(ref, False)
    req.send_empty(204)


@route("DELETE", "/containers/{ref}")
def delete(req, ref):
    backend.remove_container(ref, force=req.flag("force"), volumes=req.flag("v"))
    req.send_empty(204)


@route("POST", "/containers/{ref}/rename")
def rename(req, ref):
    new = req.arg("name")
    if not new:
        raise UsageError("rename needs the new name in the 'name' parameter")
    backend.rename_container(ref, new.lstrip("/"))
    req.send_empty(204)


@route("POST", "/containers/{ref}/update")
def update(req, ref):
    req.send_json({"Warnings": backend.update_container(ref, req.json_body(required=True))})


@route("GET", "/containers/{ref}/top")
def top(req, ref):
    req.send_json(backend.top(ref, req.arg("ps_args", "")))


@route("POST", "/containers/{ref}/resize")
def resize(req, ref):
    h, w = req.int_arg("h", 0), req.int_arg("w", 0)
    cid, tty, running = backend.container_is_tty(ref)
    if not running:
        raise Conflict(f"Container {cid} is not running")
    if tty and h > 0 and w > 0:
        streams.send_control(backend.attach_socket_path(cid), frames.RESIZE, f"{h} {w}".encode())
    req.send_empty(200)


@route("POST", "/containers/{ref}/wait")
def wait(req, ref):
    cond = req.arg("condition") or "not-running"
    if cond not in WAIT_CONDITIONS:
        raise UsageError(f"invalid condition {cond!r}: use not-running, next-exit or removed")
    cid, _, running = backend.container_is_tty(ref)
    gen = backend.start_count(cid)
    finished = backend.finished_at(cid) if cond == "next-exit" else ""
    out = req.stream("application/json")         # headers now, the body at exit
    code = _wait(req, cid, cond, running, gen, finished)
    if code is None:
        return
    out.json({"StatusCode": code, "Error": None})
    out.close()


def _wait(req, cid: str, cond: str, running: bool, gen: int, finished: str) -> int | None:
    seen_running = running
    last_code = None
    checked = time.monotonic()
    while True:
        alive = backend.has_runtime(cid)
        if alive:
            seen_running = True
        elif cond == "not-running":
            break
        elif cond == "next-exit":
            if seen_running or backend.start_count(cid) > gen:
                break
            if time.monotonic() - checked > 1.0:         # started and ended by someone else
                checked = time.monotonic()
                if backend.finished_at(cid) != finished:
                    break
        elif cond == "removed":
            if not backend.exists(cid):
                break
            if last_code is None:
                last_code = backend.exit_code(cid)
        if req.client_gone():
            return None
        time.sleep(0.05)
    code = backend.exit_code(cid)
    return code if code is not None else (last_code if last_code is not None else 0)


@route("GET", "/containers/{ref}/stats")
def stats(req, ref):
    """One object (stream=0: two samples a second apart, so the CPU share can
    be computed; one-shot=1: a single sample) or one per second (stream)."""
    if not req.flag("stream", True):
        first = None if req.flag("one-shot") else backend.stats(ref)["raw"]
        if first is not None:
            time.sleep(1)
        out = backend.stats(ref, first)
        out.pop("raw")
        req.send_json(out)
        return
    cid = backend.stats(ref)["id"]
    out = req.stream("application/json")
    previous = None
    while backend.is_running(cid) and not req.client_gone():
        s = backend.stats(cid, previous)
        previous = s.pop("raw")
        out.json(s)
        time.sleep(1)
    out.close()


@route("GET", "/containers/{ref}/logs")
def logs(req, ref):
    from ..containers.logs import follow, parse_since, read_logs
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise UsageError("Bad parameters: you must choose at least one stream")
    tail = req.arg("tail") or "all"
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f"invalid tail {tail!r}: a number or all")
    since = parse_since(req.arg("since") or None)
    until = parse_since(req.arg("until") or None) if req.arg("until") not in (None, "", "0") else 0
    path, tty, alive = backend.log_source(ref)
    entries, offset = read_logs(path, tail=None if tail == "all" or int(tail) < 0 else int(tail),
                                since=since)
    out = req.stream(RAW_STREAM if tty else MULTIPLEXED)
    stamps = req.flag("timestamps")

    def emit(e) -> None:
        from ..times import parse_time
        if until and parse_time(e.get("time", "")) > until:
            return
        data = _log_bytes(e, tty, want_out, want_err, stamps)
        if data:
            out.write(data)
    for e in entries:
        emit(e)
    if req.flag("follow"):
        for e in follow(path, offset, lambda: alive() and not req.client_gone()):
            emit(e)
    out.close()


@route("POST", "/containers/{ref}/attach")
def attach(req, ref):
    cid, tty, running = backend.container_is_tty(ref)
    want_in, want_out, want_err = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    from ..containers.detachkeys import parse
    keys = parse(req.arg("detachKeys") or None)
    stream = req.flag("stream")
    q = None if running or not stream else streams.wait_for_start(cid)
    try:
        reader, client = req.hijack(RAW_STREAM if tty else MULTIPLEXED)
        if req.flag("logs"):        # the log so far first, as dockerd replays it
            _replay_log(cid, client, tty, want_out, want_err)
        if not stream:
            return
        conn = _supervisor_connection(cid, q) if q else _join_running(cid)
    finally:
        if q is not None:
            streams.forget(cid, q)
    if conn is None:
        log.debug("attach %s: the container went away before it started", cid[:12])
        return
    code = streams.relay(conn, reader, client, tty=tty, stdin=want_in, stdout=want_out, stderr=want_err,
                         detach_keys=keys)
    if code is not None:
        backend.note_exit(cid, code)


def _replay_log(cid: str, client, tty: bool, want_out: bool, want_err: bool) -> None:
    from ..containers.logs import iter_logs
    path, _, _ = backend.log_source(cid)
    for e in iter_logs(path):
        data = _log_bytes(e, tty, want_out, want_err)
        if data:
            client.sendall(data)


def _log_bytes(e: dict, tty: bool, want_out: bool, want_err: bool, stamp: bool = False) -> bytes:
    """One log entry as the wire carries it: raw for a TTY, else a
    multiplexed frame; b"" for a stream the client did not ask for."""
    err = e.get("stream") == "stderr"
    if (err and not want_err) or (not err and not want_out):
        return b""
    payload = (((e.get("time", "") + " ") if stamp else "") + e.get("log", "")).encode("utf-8", "replace")
    return payload if tty else frames.encode(frames.STDERR if err else frames.STDOUT, payload)


def _supervisor_connection(cid: str, q: queue.Queue):
    """Wait for the start that hands us the supervisor's socket (or for the
    container to be started some other way)."""
    while True:
        try:
            got = q.get(timeout=0.2)
        except queue.Empty:
            if not streams.still_waiting(cid, q):
                continue            # our own start took us: its socket comes next
            if backend.is_running(cid):
                got = "running"
            elif not backend.exists(cid):
                # (No client_gone() here: a client without stdin half-closes
                # its side at once, which is not leaving.)
                return None
            else:
                continue
        if got is None:
            return None
        if got == "running":
            log.debug("attach %s: joining a container started elsewhere", cid[:12])
            return _join_running(cid)
        return got


def _join_running(cid: str):
    conn = streams.connect(backend.attach_socket_path(cid))
    backend.attach_event(cid)
    return conn


@route("POST", "/containers/prune")
def prune(req):
    req.send_json(backend.prune_containers(req.filters()))


@route("GET", "/containers/{ref}/changes")
def changes(req, ref):
    req.send_json(backend.changes(ref) or None)


@route("GET", "/containers/{ref}/export")
def export(req, ref):
    cid = backend.container_id(ref)          # a missing container is a 404, before any header
    out = req.stream("application/x-tar")
    backend.export_container(cid, out)
    out.close()
