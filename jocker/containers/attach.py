"""The attached side of `run` and `start -a`: relay the container's output to
the caller's streams, the caller's input to the container (-i), the caller's
terminal in raw mode (-t) with window-size changes, and forward signals
(Docker's --sig-proxy). The streams are parameters (the CLI passes its
stdio, the API server an HTTP connection); signal handlers are installed only
from the main thread. Returns the container's exit code."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import threading

from ..engine_api.streams import Streams
from . import frames

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


# sun_path is 104 bytes on FreeBSD, 108 on Linux; keep under both.
_SUN_PATH_MAX = 100


def connect(path: str) -> socket.socket:
    """Connect to a UNIX socket. Deep run directories exceed sun_path; then a
    short-lived child changes to the socket's directory, connects by the
    relative name and hands the connected socket back over a socketpair, so
    this process's working directory never changes (threads share it)."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:                              # the child: chdir, connect, send, exit
        code = 1
        try:
            parent.close()
            os.chdir(os.path.dirname(path))
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(os.path.basename(path))
            socket.send_fds(child, [b"ok"], [s.fileno()])
            code = 0
        except OSError as e:
            try:
                child.sendall(f"error {e.errno}".encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    child.close()
    try:
        msg, fds, _, _ = socket.recv_fds(parent, 64, 1)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if not fds:
        err = int(msg.split()[1]) if msg.startswith(b"error ") else 0
        raise OSError(err, f"cannot connect to {path}: {os.strerror(err) if err else 'no socket'}")
    return socket.socket(fileno=fds[0])


def attach_running(engine, c) -> socket.socket:
    """A connection to a running container's supervisor, as an attach client."""
    from .. import rundir as RD
    from ..errors import Conflict
    if not c.running:
        raise Conflict("You cannot attach to a stopped container, start it first")
    if c.runtime.get("status") == "paused":
        raise Conflict("You cannot attach to a paused container, unpause it first")
    try:
        return connect(RD.path(engine.layout.container_rundir(c.id), RD.ATTACH_SOCK))
    except OSError as e:
        raise Conflict(f"container {c.short} is not accepting attach clients: {e}") from None


def _winsize(fd: int | None) -> bytes | None:
    if fd is None:
        return None
    try:
        cols, rows = os.get_terminal_size(fd)
        return f"{rows} {cols}".encode()
    except OSError:
        return None


def relay(conn: socket.socket, streams: Streams, *, stdin_open: bool, tty: bool,
          sig_proxy: bool = True, detach_keys: bytes | None = None) -> int | None:
    """The container's exit status, or None when the caller detached (the
    detach keys, scanned in a TTY session only, as dockerd does)."""
    out = streams.stdout
    err = streams.err
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ, "conn")
    stdin_fd = streams.stdin if stdin_open else None
    term = streams.terminal
    restore = None
    if stdin_fd is not None:
        sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
        if tty and os.isatty(stdin_fd):
            import termios
            import tty as tty_mod
            restore = termios.tcgetattr(stdin_fd)
            tty_mod.setraw(stdin_fd)
    pending_signals: list[int] = []
    old = {}
    main_thread = threading.current_thread() is threading.main_thread()
    if sig_proxy and not tty and main_thread:
        for s in PROXIED:
            old[s] = signal.signal(s, lambda n, f: pending_signals.append(n))
    if tty:
        size = _winsize(term)
        if size:
            conn.sendall(frames.encode(frames.RESIZE, size))
        if term is not None and main_thread:
            old[signal.SIGWINCH] = signal.signal(
                signal.SIGWINCH, lambda n, f: pending_signals.append(-1))
    decoder = frames.Decoder()
    code = None
    scanner = None
    if tty and stdin_fd is not None:
        from .detachkeys import Scanner
        scanner = Scanner(detach_keys or b"\x10\x11")
    detached = False
    try:
        while code is None and not detached:
            while pending_signals:
                n = pending_signals.pop(0)
                if n == -1:
                    size = _winsize(term)
                    if size:
                        conn.sendall(frames.encode(frames.RESIZE, size))
                else:
                    conn.sendall(frames.encode(frames.SIGNAL, str(n).encode()))
            for key, _ in sel.select(0.2):
                if key.data == "stdin":
                    data = os.read(stdin_fd, 65536)
                    if not data:
                        sel.unregister(stdin_fd)
                        conn.sendall(frames.encode(frames.STDIN_EOF, b""))
                        continue
                    if scanner is not None:
                        data, detached = scanner.feed(data)
                    if data:
                        conn.sendall(frames.encode(frames.STDIN, data))
                    if detached:
                        break
                    continue
                data = conn.recv(65536)
                if not data:
                    code = 125 if code is None else code
                    break
                for kind, payload in decoder.feed(data):
                    if kind == frames.STDOUT:
                        out.write(payload)
                        out.flush()
                    elif kind == frames.STDERR:
                        err.write(payload)
                        err.flush()
                    elif kind == frames.EXIT:
                        code = int(payload)
    finally:
        if restore is not None:
            import termios
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, restore)
        for s, h in old.items():
            signal.signal(s, h)
        conn.close()
    return None if detached else code
