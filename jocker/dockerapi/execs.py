"""/containers/{id}/exec and /exec/{id}/*: like Docker, exec instances live
in the server's memory (inspect answers until the server restarts)."""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
from dataclasses import dataclass, field

from ..containers import frames
from ..errors import Conflict, NotFound, UsageError
from ..ids import new_id
from . import backend
from .routes import route
from .jsonargs import field as _get, strings as _strings
from .wire import MULTIPLEXED, RAW_STREAM

_KEEP = 1000            # finished exec records kept for inspect


@dataclass
class Exec:
    id: str
    container: str
    argv: list[str]
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    user: str = ""
    workdir: str = ""
    env: list[str] = field(default_factory=list)
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    master: int | None = None
    detach_keys: str = ""          # DetachKeys of the create body (Docker syntax)

    def view(self) -> dict:
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": self.tty, "entrypoint": self.argv[0], "arguments": self.argv[1:],
                                  "privileged": False, "user": self.user},
                "OpenStdin": self.stdin, "OpenStderr": self.stderr, "OpenStdout": self.stdout,
                "CanRemove": False, "ContainerID": self.container, "DetachKeys": self.detach_keys, "Pid": self.pid}


_execs: dict[str, Exec] = {}
_lock = threading.Lock()


def _find(eid: str) -> Exec:
    with _lock:
        e = _execs.get(eid)
    if e is None:
        raise NotFound(f"No such exec instance: {eid}")
    return e


@route("POST", "/containers/{ref}/exec")
def create(req, ref):
    body = req.json_body(required=True)
    argv = _strings(body, "Cmd", "")
    if not argv:
        raise UsageError("No exec command specified")
    keys = _get(body, "DetachKeys", str, "")
    from ..containers.detachkeys import parse
    parse(keys or None)                     # a bad sequence is a 400 now, not at start
    cid, _, running = backend.container_is_tty(ref)
    if not running:
        raise Conflict(f"Container {cid} is not running")
    e = Exec(detach_keys=keys, id=new_id(), container=cid, argv=list(argv), tty=_get(body, "Tty", bool, False),
             stdin=_get(body, "AttachStdin", bool, False), stdout=_get(body, "AttachStdout", bool, True),
             stderr=_get(body, "AttachStderr", bool, True), user=_get(body, "User", str, ""),
             workdir=_get(body, "WorkingDir", str, ""),
             env=[x for x in (_strings(body, "Env", "") or []) if "=" in x])
    with _lock:
        if len(_execs) > _KEEP:
            for old in [k for k, v in _execs.items() if v.exit_code is not None][:len(_execs) - _KEEP]:
                del _execs[old]
        _execs[e.id] = e
    backend.exec_event(cid, "exec_create", e.id, e.argv)
    req.send_json({"Id": e.id}, 201)


@route("GET", "/exec/{eid}/json")
def inspect(req, eid):
    req.send_json(_find(eid).view())


@route("POST", "/exec/{eid}/resize")
def resize(req, eid):
    e = _find(eid)
    h, w = req.int_arg("h", 0), req.int_arg("w", 0)
    if e.master is not None and h > 0 and w > 0:
        from ..containers.childproc import set_winsize as _set_winsize
        try:
            _set_winsize(e.master, h, w)
        except OSError:
            pass
    req.send_empty(200)


@route("POST", "/exec/{eid}/start")
def start(req, eid):
    body = req.json_body()
    e = _find(eid)
    with _lock:
        if e.started:
            raise Conflict(f"exec {eid} has already been started")
        e.started = True
    detach = _get(body, "Detach", bool, False)
    tty = _get(body, "Tty", bool, e.tty)
    cid, argv, env, runner = backend.exec_command(e.container, e.argv, user=e.user, workdir=e.workdir,
                                                  env=e.env, tty=tty)
    if detach:
        proc = runner.spawn(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
        _track(e, proc)
        req.send_empty(200)
        return
    reader, client = req.hijack(RAW_STREAM if tty else MULTIPLEXED)
    if tty:
        master, slave = os.openpty()
        from ..containers.childproc import child_setup as _child_setup
        try:
            proc = runner.spawn(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                preexec_fn=_child_setup(True), close_fds=True)
        finally:
            os.close(slave)
        e.master = master
        _track(e, proc, wait=False)
        _relay_tty(e, proc, master, reader, client)
    else:
        proc = runner.spawn(argv, env=env, stdin=subprocess.PIPE if e.stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        _track(e, proc, wait=False)
        _relay_pipes(e, proc, reader, client)


def _track(e: Exec, proc, wait: bool = True) -> None:
    e.pid, e.running = proc.pid, True
    backend.exec_event(e.container, "exec_start", e.id, e.argv)
    if wait:
        threading.Thread(target=_finish, args=(e, proc), daemon=True, name="exec-reaper").start()


def _finish(e: Exec, proc) -> None:
    if not e.running:
        return
    code = proc.wait()
    e.exit_code = 128 - code if code < 0 else code
    e.running = False
    backend.exec_event(e.container, "exec_die", e.id, exitCode=e.exit_code)
    if e.master is not None:
        try:
            os.close(e.master)
        except OSError:
            pass
        e.master = None


def _pump_in(reader, write, close) -> None:
    from .streams import pump_input
    try:
        pump_input(reader, write)
    finally:
        try:
            close()
        except OSError:
            pass


def _relay_pipes(e: Exec, proc, reader, client) -> None:
    if e.stdin:
        def write(data):
            proc.stdin.write(data)
            proc.stdin.flush()
        threading.Thread(target=_pump_in, args=(reader, write, proc.stdin.close), daemon=True).start()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, frames.STDOUT)
    sel.register(proc.stderr, selectors.EVENT_READ, frames.STDERR)
    wanted = {frames.STDOUT: e.stdout, frames.STDERR: e.stderr}
    try:
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if wanted[key.data]:
                    try:
                        client.sendall(frames.encode(key.data, data))
                    except OSError:
                        wanted[key.data] = False      # the client left: drain, let it finish
    finally:
        proc.stdout.close()
        proc.stderr.close()
        _finish(e, proc)          # ExitCode is set before the client sees the end
        _close(client)


def _relay_tty(e: Exec, proc, master: int, reader, client) -> None:
    """Until the process ends. A client that detaches with the keys gets its
    connection closed; the process goes on and its output is drained (the
    server holds its terminal, as dockerd does); so does a client that just
    goes away."""
    detached = threading.Event()
    if e.stdin:
        from ..containers.detachkeys import parse
        from .streams import pump_input, scanner_for

        def pump():
            if pump_input(reader, lambda data: os.write(master, data),
                          scanner_for(True, parse(e.detach_keys or None))):
                detached.set()
                _close(client)
        threading.Thread(target=pump, daemon=True, name="exec-stdin").start()
    gone = False                  # the client hung up: drain as after a detach
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:           # EIO: the process side closed
                break
            if not data:
                break
            if gone or detached.is_set():
                continue
            try:
                client.sendall(data)
            except OSError:
                # Stop reading the terminal and a process that writes would
                # block on it for good (and this thread with it).
                gone = True
    finally:
        _finish(e, proc)
        _close(client)


def _close(client) -> None:
    import socket
    try:
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
