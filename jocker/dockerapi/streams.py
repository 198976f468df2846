"""Relaying a container's supervisor stream to a hijacked API connection.

The supervisor speaks jocker's frame protocol (jocker/containers/frames.py:
Docker's 8-byte header, plus EXIT/RESIZE/SIGNAL/STDIN_EOF kinds). Toward
the client: raw bytes for a TTY, Docker's multiplexed frames otherwise
(the same header, stream 1 or 2). Client stdin arrives unframed; when the
client half-closes, the container's stdin is closed and output goes on."""

from __future__ import annotations

import logging
import queue
import socket
import threading

from ..containers import frames

log = logging.getLogger("jocker.api")

# Attach requests waiting for their container to be started (`docker run`
# attaches before it starts): the start hands them the supervisor's socket.
_pending: dict[str, list[queue.Queue]] = {}
_lock = threading.Lock()


def wait_for_start(cid: str) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    with _lock:
        _pending.setdefault(cid, []).append(q)
    return q


def forget(cid: str, q: queue.Queue) -> None:
    with _lock:
        waiters = _pending.get(cid, [])
        if q in waiters:
            waiters.remove(q)
        if not waiters:
            _pending.pop(cid, None)


def still_waiting(cid: str, q: queue.Queue) -> bool:
    """False once a start took this waiter (its socket is on the way)."""
    with _lock:
        return q in _pending.get(cid, [])


def take_waiters(cid: str) -> list[queue.Queue]:
    with _lock:
        return _pending.pop(cid, [])


def connect(path: str) -> socket.socket:
    from ..containers.attach import connect as connect_supervisor
    return connect_supervisor(path)


def send_control(path: str, kind: int, payload: bytes) -> None:
    s = connect(path)
    try:
        s.sendall(frames.encode(kind, payload))
    finally:
        s.close()


def pump_input(reader, write, scanner=None) -> bool:
    """Copy the client's input to write() until it ends (False) or, with a
    detach-key scanner (TTY sessions, as dockerd), until the keys (True)."""
    try:
        while True:
            data = reader.read1(65536)
            if not data:
                return False
            detached = False
            if scanner is not None:
                data, detached = scanner.feed(data)
            if data:
                write(data)
            if detached:
                return True
    except (OSError, ValueError):
        return False


def _pump_stdin(reader, conn: socket.socket, scanner, detached: list) -> None:
    if pump_input(reader, lambda data: conn.sendall(frames.encode(frames.STDIN, data)), scanner):
        detached.append(True)
        log.debug("attach: the client detached with its keys")
        try:
            conn.shutdown(socket.SHUT_RDWR)     # ends the relay; the container goes on
        except OSError:
            pass
        return
    try:
        conn.sendall(frames.encode(frames.STDIN_EOF, b""))
    except OSError:
        pass


def scanner_for(tty: bool, keys: bytes | None):
    from ..containers.detachkeys import Scanner
    return Scanner(keys or b"\x10\x11") if tty else None


def relay(conn: socket.socket, reader, client: socket.socket, *, tty: bool, stdin: bool,
          stdout: bool = True, stderr: bool = True, detach_keys: bytes | None = None) -> int | None:
    """Until the container exits, either side goes away or the client
    detaches; returns the exit code when the supervisor reported one."""
    detached: list = []
    if stdin:
        threading.Thread(target=_pump_stdin, args=(reader, conn, scanner_for(tty, detach_keys), detached),
                         daemon=True, name="stdin").start()
    decoder = frames.Decoder()
    code = None
    try:
        while code is None:
            data = conn.recv(65536)
            if not data:
                break
            for kind, payload in decoder.feed(data):
                if kind == frames.EXIT:
                    code = int(payload or 0)
                elif (kind == frames.STDOUT and stdout) or (kind == frames.STDERR and stderr):
                    client.sendall(payload if tty else frames.encode(kind, payload))
    except OSError as e:
        log.debug("attach relay ended: %s", e)
    finally:
        log.debug("attach relay done: exit code %s%s", code, " (detached)" if detached else "")
        conn.close()
        try:
            client.shutdown(socket.SHUT_RDWR)      # wakes the stdin pump
        except OSError:
            pass
    return code
