"""What the supervisor does in the children it starts (the container's
main process, a healthcheck probe; the API server's exec too) and to their
terminal: a session of their own, the controlling tty, the parent-death
signal, default signal handlers; the window size."""

from __future__ import annotations

import os
import signal
import sys


def set_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def child_setup(tty: bool):
    def setup():
        os.setsid()
        if tty:
            import fcntl
            import termios
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if sys.platform.startswith("linux"):
            # The container dies with its supervisor: state stays truthful.
            import ctypes
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(s, signal.SIG_DFL)
    return setup
