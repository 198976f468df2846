"""The supervisor's end of its socket, `<rundir>/<id>/attach.sock`: attach
clients (the container's output goes out to them as frames; stdin, signals
and window sizes come in) and the engine's control messages (stop, kill,
resize, health; the engine's side is control.py). A mixin of Supervisor,
which owns the state it works on (the selector, the main process, the pty).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import time

from .. import rundir as RD
from . import frames
from .childproc import set_winsize


class AttachServer:
    def _listen(self) -> socket.socket:
        path = RD.path(self.rundir, RD.ATTACH_SOCK)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bind by a relative name: socket paths are limited to ~104 bytes.
        os.chdir(self.rundir)
        s.bind(RD.ATTACH_SOCK)
        os.chdir("/")
        os.chmod(path, 0o600)
        s.listen(8)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, "listener")
        return s

    def _wait_for_client(self, listener: socket.socket, timeout: float) -> bool:
        """True once a client is attached; False when none came in time or
        the CLI that started us is gone."""
        end = time.monotonic() + timeout
        while not self.clients and time.monotonic() < end and not self.stop_requested:
            if self._starter_gone():
                return False
            for key, _ in self.sel.select(0.1):
                if key.data == "listener":
                    self._accept(listener)
        return bool(self.clients) or self.stop_requested

    def _starter_gone(self) -> bool:
        """The CLI holds the read end of our ready pipe until the container
        has started: POLLERR on our end means it died."""
        if self.starter_lost:
            return True
        if not self.ready:
            return False
        import select
        p = select.poll()
        p.register(self.ready.fileno(), 0)
        return any(ev & (select.POLLERR | select.POLLHUP) for _fd, ev in p.poll(0))

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        self.clients.append(conn)
        self.decoders[conn] = frames.Decoder()
        self.sel.register(conn, selectors.EVENT_READ, "client")

    def _drop(self, conn: socket.socket) -> None:
        if conn in self.clients or conn in self.controls:
            if conn in self.clients:
                self.clients.remove(conn)
            else:
                self.controls.remove(conn)
            try:
                self.sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()

    def _from_client(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        for kind, payload in self.decoders[conn].feed(data):
            if kind == frames.STDIN and self.stdin_w is not None:
                try:
                    os.set_blocking(self.stdin_w, True)
                    os.write(self.stdin_w, payload)
                except OSError:
                    pass
            elif kind == frames.STDIN_EOF and self.stdin_w is not None and not self.spec.tty:
                self.proc.close_stdin()
                self.stdin_w = None
            elif kind == frames.SIGNAL:
                self._signal_main(int(payload))
            elif kind == frames.RESIZE and self.master is not None:
                rows, cols = (int(x) for x in payload.split())
                set_winsize(self.master, rows, cols)
            elif kind == frames.CONTROL:
                if conn in self.clients:         # a control connection gets no output
                    self.clients.remove(conn)
                    self.controls.append(conn)
                try:
                    answer = self.control(json.loads(payload))
                    reply = b"ok" if answer is None else b"ok " + json.dumps(answer).encode()
                except Exception as e:           # a bad message must not kill the container
                    reply = f"error {e}".encode()
                try:
                    conn.sendall(frames.encode(frames.REPLY, reply))
                except OSError:
                    self._drop(conn)

    def control(self, msg: dict) -> dict | None:
        """The engine's control messages (control.send), answered `ok`,
        `ok JSON` or `error WHY`:
            {"op": "stop", "timeout": s|null, "signal": name|null, "by": "user"|"system"}
            {"op": "kill", "signal": number}   SIGKILL: everything at once, no restart
            {"op": "resize", "rows": r, "cols": c}
            {"op": "health", "probe": bool}   State.Health now (null: no healthcheck
                                              running); probe: run the probe at once
            {"op": "update", "restart": policy, "limits": {...}}   `jocker update`: the
                policy and limits the next restart by this supervisor uses
        SIGTERM to the supervisor stays a stop with the container's defaults."""
        op = msg.get("op")
        if op == "stop":
            if msg.get("signal"):
                self.stop_signal = str(msg["signal"])
            if msg.get("timeout") is not None:
                self.stop_timeout = float(msg["timeout"])
                if self.stop_deadline is not None:     # already stopping: a shorter grace wins
                    self.stop_deadline = min(self.stop_deadline, time.monotonic() + self.stop_timeout)
            self.stop_by_system = msg.get("by") == "system"
            self.stop_requested = True
        elif op == "kill":
            signum = int(msg["signal"])
            if signum == signal.SIGKILL:
                self.control({"op": "stop", "timeout": 0})
            else:
                self._signal_main(signum)
        elif op == "resize":
            if self.master is not None:
                set_winsize(self.master, int(msg["rows"]), int(msg["cols"]))
        elif op == "update":
            if isinstance(msg.get("restart"), dict):
                self.job.restart = dict(msg["restart"])
            if isinstance(msg.get("limits"), dict):
                from types import SimpleNamespace
                self.spec.limits = SimpleNamespace(**msg["limits"])
                self.job.spec = dict(self.job.spec, limits=dict(msg["limits"]))
            if self.job_path:        # the jail is re-created from the job file on a restart
                self.job.save(self.job_path)
        elif op == "health":
            if self.health is None:
                return {"Health": None}
            if msg.get("probe"):
                self.health.probe_now()
            return {"Health": self.health.state.to_json()}
        else:
            raise ValueError(f"unknown control message {op!r}")
