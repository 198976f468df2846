"""The attached side of `run` and `start -a`: relay the container's output to
our stdout/stderr, our stdin to the container (-i), our terminal in raw mode
(-t) with window-size changes, and forward signals (Docker's --sig-proxy).
Returns the container's exit code, which `run` exits with."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys

from . import frames

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def connect(path: str) -> socket.socket:
    """Connect by a relative name from the socket's directory: UNIX socket
    paths are limited to ~104 bytes, deep run directories are not."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(os.path.dirname(path))
        s.connect(os.path.basename(path))
    finally:
        os.fchdir(here)
        os.close(here)
    return s


def _winsize() -> bytes | None:
    try:
        cols, rows = os.get_terminal_size(sys.stdout.fileno())
        return f"{rows} {cols}".encode()
    except OSError:
        return None


def relay(conn: socket.socket, *, stdin_open: bool, tty: bool, sig_proxy: bool = True) -> int:
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ, "conn")
    stdin_fd = sys.stdin.fileno() if stdin_open else None
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
    if sig_proxy and not tty:
        for s in PROXIED:
            old[s] = signal.signal(s, lambda n, f: pending_signals.append(n))
    if tty:
        size = _winsize()
        if size:
            conn.sendall(frames.encode(frames.RESIZE, size))
        old[signal.SIGWINCH] = signal.signal(
            signal.SIGWINCH, lambda n, f: pending_signals.append(-1))
    decoder = frames.Decoder()
    code = None
    try:
        while code is None:
            while pending_signals:
                n = pending_signals.pop(0)
                if n == -1:
                    size = _winsize()
                    if size:
                        conn.sendall(frames.encode(frames.RESIZE, size))
                else:
                    conn.sendall(frames.encode(frames.SIGNAL, str(n).encode()))
            for key, _ in sel.select(0.2):
                if key.data == "stdin":
                    data = os.read(stdin_fd, 65536)
                    if data:
                        conn.sendall(frames.encode(frames.STDIN, data))
                    else:
                        sel.unregister(stdin_fd)
                        conn.sendall(frames.encode(frames.STDIN_EOF, b""))
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
    return code
