"""`exec -it` from a terminal: the command gets a pty of its own and the
caller's terminal (raw) is relayed to it, as the supervisor does for
`run -it`. So the detach keys can leave it running: a small drainer keeps
reading its terminal after the caller has gone, as dockerd holds an exec's
terminal. Streams are parameters; the caller's terminal is restored on
every way out."""

from __future__ import annotations

import os
import selectors
import signal
import threading

from .detachkeys import Scanner


def _session(console: int):
    """The child leads a new session with the pty as its controlling
    terminal (no PDEATHSIG: a detached exec outlives the CLI)."""
    def setup():
        import fcntl
        import termios
        os.setsid()
        fcntl.ioctl(console, termios.TIOCSCTTY, 0)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(s, signal.SIG_DFL)
    return setup


def _copy_winsize(term: int | None, master: int) -> None:
    if term is None:
        return
    import fcntl
    import termios
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(term, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def _drain_in_background(master: int) -> None:
    """Keep the detached command's terminal open and read, so it neither
    blocks on a full pty nor gets SIGHUP when the caller exits."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            while os.read(master, 65536):
                pass
        except OSError:
            pass
        finally:
            os._exit(0)
    os.close(master)


def run_on_pty(runner, argv: list[str], env, streams, keys: bytes) -> int | None:
    """Run argv on a new pty relayed to streams (stdin a terminal). Its exit
    status, or None when the caller detached with keys."""
    import termios
    import tty as tty_mod
    master, slave = os.openpty()
    term = streams.terminal if streams.terminal is not None else streams.stdin
    _copy_winsize(term, master)
    try:
        proc = runner.spawn(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=_session(slave), close_fds=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    stdin_fd, out = streams.stdin, streams.stdout
    restore = termios.tcgetattr(stdin_fd)
    tty_mod.setraw(stdin_fd)
    resized: list[int] = []
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGWINCH, lambda n, f: resized.append(n))
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "pty")
    sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
    scanner, detached, done = Scanner(keys), False, False
    try:
        while not (done or detached):
            if resized:
                resized.clear()
                _copy_winsize(term, master)
            for key, _ in sel.select(0.2):
                if key.data == "pty":
                    try:
                        data = os.read(master, 65536)
                    except OSError:          # EIO: the command's side closed
                        data = b""
                    if not data:
                        done = True
                        break
                    out.write(data)
                    out.flush()
                    continue
                data = os.read(stdin_fd, 65536)
                if not data:
                    sel.unregister(stdin_fd)
                    continue
                data, detached = scanner.feed(data)
                if data:
                    os.write(master, data)
                if detached:
                    break
    finally:
        sel.close()
        termios.tcsetattr(stdin_fd, termios.TCSADRAIN, restore)
        if old is not None:
            signal.signal(signal.SIGWINCH, old)
    if detached:
        _drain_in_background(master)
        return None
    os.close(master)
    code = proc.wait()
    return 128 - code if code < 0 else code
