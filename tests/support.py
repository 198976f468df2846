"""What the root conftest and test modules share: import these from
`support`, never from `conftest` (tests/api has a conftest of its own, and two
modules named `conftest` shadow each other)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

IS_FREEBSD = platform.system() == "FreeBSD"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


NET_PREFIX = "t" + _base36(os.getpid() % 36 ** 4)


def net_objects(prefix: str = NET_PREFIX) -> dict[str, set[str]]:
    """This session's host network objects: links, netns, nft tables."""
    if IS_FREEBSD or not shutil.which("ip"):
        return {}
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line}
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout \
        if shutil.which("nft") else ""
    return {"links": {n for n in names if n.startswith(prefix)},
            "netns": {l.split()[0] for l in netns.splitlines() if l.startswith(prefix)},
            "nft": {l.split()[-1] for l in tables.splitlines() if l.split()[-1:] and
                    l.split()[-1].startswith(prefix)}}


class JockerCLI:
    """Runs the real `jocker` command line in a subprocess."""

    def __init__(self, env):
        self.env = env

    def __call__(self, *args, input=None, check=True, timeout=120, env=None):
        proc = subprocess.run([sys.executable, "-m", "jocker", *map(str, args)],
                              input=input, capture_output=True, text=isinstance(input, str) or input is None,
                              env={**self.env, **(env or {})}, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"jocker {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc


class PrivateDockerd:
    """The real Docker Engine as a reference: a private dockerd (Debian's
    docker.io) with its own data root, exec root and socket, no iptables, no
    bridge, vfs storage. start() returns the socket path or None (then
    .log_tail() says why); stop() ends it and removes everything it made."""

    def __init__(self):
        import tempfile
        # short: UNIX socket paths are limited to 107 bytes
        self.work = tempfile.mkdtemp(prefix="jdref", dir="/tmp")
        self.sock = os.path.join(self.work, "d.sock")
        self.proc = None

    def start(self, ready, tries: int = 300) -> str | None:
        """ready(sock) -> bool is polled every 0.1 s until it answers."""
        import time
        exe = shutil.which("dockerd")
        if not exe or os.geteuid() != 0:
            return None
        with open(os.path.join(self.work, "log"), "wb") as log:
            self.proc = subprocess.Popen(
                [exe, "--data-root", os.path.join(self.work, "data"), "--exec-root",
                 os.path.join(self.work, "x"), "--pidfile", os.path.join(self.work, "pid"),
                 "-H", f"unix://{self.sock}", "--iptables=false", "--bridge=none",
                 "--storage-driver=vfs"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(tries):
            if self.proc.poll() is not None:
                return None
            try:
                if os.path.exists(self.sock) and ready(self.sock):
                    return self.sock
            except OSError:
                pass
            time.sleep(0.1)
        return None

    def log_tail(self) -> str:
        try:
            return open(os.path.join(self.work, "log"), errors="replace").read()[-600:]
        except OSError:
            return "dockerd is not installed (apt-get install docker.io) or not root"

    def stop(self) -> None:
        import signal
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for sub in ("x", "data"):
            subprocess.run(["umount", "-R", os.path.join(self.work, sub)], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


def layer_tar(entries) -> bytes:
    """A hand-made layer tar, members in stream order, all with mtime 12345:
    entries are (name, tarfile type, mode, link target or a regular file's bytes)."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, extra in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, 12345
            if kind == tarfile.REGTYPE:
                info.size = len(extra)
                tar.addfile(info, io.BytesIO(extra))
            else:
                info.linkname = extra
                tar.addfile(info)
    return buf.getvalue()


class PtyProcess:
    """A command on a real terminal, driven by the test: expect, send, wait."""

    def __init__(self, argv: list[str], env: dict):
        import pty
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(env)
            os.execvp(argv[0], argv)
        self.out = b""

    def expect(self, want: bytes, timeout: float = 30) -> None:
        import select
        import time
        end = time.monotonic() + timeout
        while want not in self.out:
            r, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if not r:
                raise AssertionError(f"{want!r} not seen in {self.out[-500:]!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"EOF before {want!r}: {self.out[-500:]!r}")
            self.out += chunk

    def send(self, data: bytes) -> None:
        """Once the CLI has put the terminal in raw mode (setting it flushes
        what was typed before, as a terminal does)."""
        import termios
        import time
        end = time.monotonic() + 30
        while termios.tcgetattr(self.fd)[3] & termios.ICANON and time.monotonic() < end:
            time.sleep(0.05)
        os.write(self.fd, data)

    def wait(self, timeout: float = 30) -> int:
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.out += os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        raise AssertionError(f"still attached: {self.out[-500:]!r}")
