"""The per-container supervisor (Docker's containerd-shim, podman's conmon).

One small process per running container, started by `jocker start/run` and
surviving it. It is the parent of the container's main process: it streams
stdout/stderr into Docker json-file log lines and to attached clients,
records start, exit code and finish time in the container's ZFS properties,
applies the restart policy with back-off, runs the healthcheck, and turns a
stop request (a control message, or SIGTERM to the supervisor) into the stop
signal, the grace period, then SIGKILL of everything in the container.

Its rooms: this module (the run loop, the container process, restarts),
attachserver.py (attach clients and control messages on attach.sock),
logwriter.py (the json-file log), childproc.py (what its children do
before they run), health.py (the probe's schedule), job.py (its typed job).

Forked by the fork-server (forkserver.py, `run_job`), or when none runs
exec'd as `python -S -c "...supervisor import main; main()" JOB.json
READY_FD`. It imports only what it needs, to stay small (see the RSS
benchmark and tests/unit/test_supervisor_closure.py).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

from ..host import process
from .. import rundir as RD
from ..atomic import write_json
from ..errors import start_status
from ..events import journal
from ..signals import signum as signal_number
from ..times import now_rfc3339
from ..host.runner import Runner
from . import frames
from .attachserver import AttachServer
from .childproc import child_setup
from .job import ALREADY_RUNNING, Job
from .logwriter import LogWriter

MAX_BACKOFF = 60.0


class Supervisor(AttachServer):
    def __init__(self, job: Job | dict, ready_fd: int, job_path: str = ""):
        self.job = job = job if isinstance(job, Job) else Job.from_dict(job)
        self.job_path = job_path
        self.ready = os.fdopen(ready_fd, "w", buffering=1) if ready_fd >= 0 else None
        self.rundir = job.rundir
        self.runner = Runner()
        self.driver = self._driver()
        self.spec = self._spec()
        self.log = LogWriter(job.log_path)
        self.sel = selectors.DefaultSelector()
        self.clients: list[socket.socket] = []
        self.decoders: dict[socket.socket, frames.Decoder] = {}
        self.stop_requested = False
        self.stop_deadline: float | None = None
        self.stop_signal: str | None = None        # a control `stop` may override these
        self.stop_timeout: float | None = None
        self.stop_by_system = False
        self.controls: list[socket.socket] = []   # control connections: no output sent
        self.state = dict(job.state)
        self.proc: process.Process | None = None
        self.main_pid: int | None = None
        self.stdin_w: int | None = None
        self.master: int | None = None
        self.health = None           # health.Monitor while a healthchecked container runs
        self.status = "starting"
        self.log_published = (0, 0, 0.0)   # failed, dropped, when: see _publish_log_failures
        self.starter_lost = False    # the ready pipe's reader is gone

    # -- setup ---------------------------------------------------------------
    def _driver(self):
        if self.job.runtime == "jail":
            from ..runtime.freebsd_jail import JailDriver
            from ..runtime.jail_plan import JailConfig
            cfg = JailConfig(self.job.devfs_ruleset, state_dir=os.path.dirname(self.rundir.rstrip("/")))
            return JailDriver(self.runner, cfg)
        from ..runtime.linux_ns import LinuxNamespaceDriver
        return LinuxNamespaceDriver(self.runner, store_dirs=self.job.store_dirs)

    def _spec(self):
        from ..runtime.base import spec_view
        return spec_view(self.job.spec)

    def report(self, *words) -> None:
        if self.ready:
            try:
                self.ready.write(" ".join(str(w) for w in words) + "\n")
            except OSError:         # EPIPE: whoever started us is gone
                self.ready = None
                self.starter_lost = True

    def _event(self, action: str, **extra) -> None:
        """A container event in the journal (jocker/events/journal.py)."""
        if self.job.events:
            path = self.job.events["journal"]
            for ev in self.job.events.get("before_" + action, ()):   # before start: mounts...
                journal.emit(path, *ev)
            attrs = dict(self.job.events["attributes"], **{k: str(v) for k, v in extra.items()})
            journal.emit(path, "container", action, self.job.id, attrs)
            for ev in self.job.events.get("after_" + action, ()):    # after die: unmounts...
                journal.emit(path, *ev)

    def _status(self, status: str) -> None:
        self.status = status
        self.log_published = (self.log.failed, self.log.dropped, time.monotonic())
        write_json(RD.path(self.rundir, RD.SUPERVISOR_JSON),
                    {"pid": os.getpid(), "main_pid": self.main_pid, "status": status,
                     "started_at": self.state.get("StartedAt", ""),
                     "restart_count": self.state.get("RestartCount", 0),
                     "log_failed": self.log.failed, "log_dropped": self.log.dropped})

    def _publish_log_failures(self) -> None:
        """Failed log writes show in `inspect` (State.Jocker) while running:
        republished when they change, at most once a second, never fatal."""
        failed, dropped, at = self.log_published
        if (self.log.failed, self.log.dropped) != (failed, dropped) and time.monotonic() - at >= 1:
            try:
                self._status(self.status)
            except OSError:
                self.log_published = (failed, dropped, time.monotonic())

    def _save_state(self) -> None:
        if self.job.autoremove:
            return          # the dataset is about to go: save the zfs writes
        from ..storage import make_driver
        from ..storage import props as P
        try:
            make_driver(self.job.storage.get("zfs_driver", "cli"), self.runner).set_props(
                self.job.storage["dataset"], P.encode_json("container.state", self.state))
        except Exception as e:      # never let bookkeeping kill the container
            self.log.write("stderr", f"jocker: could not record state: {e}\n".encode())

    # -- main ----------------------------------------------------------------
    def _claim(self) -> bool:
        """One supervisor per container: an exclusive lock held for our whole
        life, so two racing `start`s cannot run the container twice."""
        import fcntl
        self._lock_fd = os.open(RD.path(self.rundir, RD.SUPERVISOR_LOCK),
                                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        for _ in range(50):     # a liveness probe (model.supervisor_alive) holds it for an instant
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                time.sleep(0.01)
        return False

    def run(self) -> int:
        os.makedirs(self.rundir, exist_ok=True)
        if not self._claim():
            self.report("error", 125, ALREADY_RUNNING)
            return 0
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        listener = self._listen()        # first: whoever sees our status can reach us
        self._status("starting")
        self.report("listening")
        prepared, failed = False, None
        if self.job.attach:
            # The set-up (spec, network) is done while the attaching client
            # connects; the container process never starts before it has.
            try:
                self._create()
                prepared = True
            except Exception as e:      # reported below, once the client listens
                failed = e
            if not self._wait_for_client(listener, 30.0):
                # The attached `run`/`start -a` died before it connected: never
                # start with no one attached; the container stays Created, as
                # Docker leaves it (and --rm does not apply to what never ran).
                self.job.autoremove = False
                self._finish(0, listener)
                return 0
        backoff = 0.1
        first = True
        code = 0
        beside = None           # the teardown child of a --rm container that will not restart
        while True:
            try:
                if failed is not None:
                    raise failed
                if not prepared:
                    self._create()
                prepared = False
                self._spawn()
            except Exception as e:      # report the cause to the waiting CLI
                code = start_status(e)
                self.report("error", code, str(e).replace("\n", " "))
                self.state.update({"Error": str(e), "ExitCode": code, "FinishedAt": now_rfc3339()})
                self._save_state()
                break
            self._health_start()        # before "running": no reader sees the last run's health
            self.state.update({"StartedAt": now_rfc3339(), "Error": "", "UserStopped": False})
            self._status("running")
            # Recorded before the starter hears "started": once `run -d`
            # returns, the container has run, whatever happens to us next.
            self._save_state()
            self._event("start")
            if first:
                self.report("started", self.main_pid)
                first = False
                if self.job.autoremove:
                    # Loaded while the container runs, not after it exits
                    # (a `run --rm` waits for the removal).
                    try:
                        from . import remove
                        remove.preload(self.job.storage)
                    except Exception:   # noqa: BLE001 - only a head start; the removal says what fails
                        pass
            started = time.monotonic()
            code = self._pump()
            self._health_stop()
            if beside is None and self.job.autoremove and self.driver.teardown_apart_from_storage \
                    and not self._should_restart(code):
                # The network's teardown (a veth's removal waits for the
                # kernel: tens of ms) starts now, before the state is saved.
                self.log.flush()
                beside = self._teardown_beside()
            by_system = self.stop_by_system
            self.state.update({"ExitCode": code, "FinishedAt": now_rfc3339(),
                               "UserStopped": self.stop_requested and not by_system,
                               "LogWriteFailures": self.log.failed, "LogLinesDropped": self.log.dropped})
            self._save_state()
            self._event("die", exitCode=code)
            if not self._should_restart(code):
                break
            if time.monotonic() - started > 10:
                backoff = 0.1
            self.state["RestartCount"] = int(self.state.get("RestartCount", 0)) + 1
            self._status("restarting")
            self._teardown()
            if self._sleep_unless_stopped(backoff):
                # Stopped while waiting to restart: that stop is the user's too.
                by_system = self.stop_by_system
                self.state["UserStopped"] = not by_system
                self._save_state()
                break
            backoff = min(backoff * 2, MAX_BACKOFF)
        self._finish(code, listener, beside)
        return code

    def _create(self) -> None:
        if self.job.runtime != "jail":
            self.driver.create(self.spec)
            return
        # jail.conf is rendered with jinja2: in a short-lived helper, so this
        # process stays small for the container's whole life.
        res = self.runner.run([sys.executable, "-c", "from jocker.runtime.jail_create import main; main()",
                               self.job_path], check=False)
        if res.returncode != 0:
            from ..errors import start_failure
            lines = res.stderr.strip().splitlines()
            raise start_failure(res.returncode, lines[-1] if lines else
                                f"jail creation failed ({res.returncode})")

    def _should_restart(self, code: int) -> bool:
        if self.stop_requested:
            return False
        policy = self.job.restart
        name = policy.get("Name", "no")
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit == 0 or int(self.state.get("RestartCount", 0)) < limit
        return False

    def _sleep_unless_stopped(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.stop_requested:
                return True
            self._serve_clients(max(0.0, min(0.05, end - time.monotonic())))
        return self.stop_requested

    def _serve_clients(self, timeout: float) -> None:
        """Accept connections and read control messages while no container runs."""
        for key, _ in self.sel.select(timeout):
            if key.data == "listener":
                self._accept(key.fileobj)
            elif key.data == "client":
                self._from_client(key.fileobj)

    def _teardown_beside(self) -> int | None:
        """Run the teardown in a child while this process removes the
        storage (`run --rm` waits for both; the network's teardown is a
        host command of its own): its pid, or None to run it here."""
        try:
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:
            try:
                # SIGTERM/SIGINT stay this process's (a stop, noted): a stop
                # arriving now must not leave half a network behind.
                self._teardown()
            finally:
                os._exit(0)
        return pid

    def _teardown(self) -> None:
        try:
            self.driver.destroy(self.spec)
        except Exception as e:
            self.log.write("stderr", f"jocker: teardown: {e}\n".encode())
            self.log.flush()

    def _finish(self, code: int, listener: socket.socket, beside: int | None = None) -> None:
        self.log.flush()
        if beside is None and self.job.autoremove and self.driver.teardown_apart_from_storage:
            beside = self._teardown_beside()
        if beside is None:
            self._teardown()
        if self.job.autoremove:
            from .remove import destroy_storage
            try:
                destroy_storage(self.runner, self.job.storage)
                self._event("destroy")
            except Exception as e:      # e.g. an admin's snapshot: it stays, so say how it ended
                self.job.autoremove = False
                self._save_state()
                self.report("error", 125, f"could not remove the container: {e}")
            finally:
                if beside is not None:
                    _wait_child(beside)
        for c in list(self.clients):
            try:
                c.sendall(frames.encode(frames.EXIT, str(code).encode()))
                c.close()
            except OSError:
                pass
        listener.close()
        for c in list(self.controls):
            c.close()
        RD.remove_running_files(self.rundir)
        self.report("exited", code)

    # -- the container process ------------------------------------------------
    def _spawn(self) -> None:
        tty = self.spec.tty
        if tty and self.driver.creates_console:
            self._spawn_console()
            return
        cmd = self.driver.main_command(self.spec)
        env = cmd.env or None
        if tty:
            self.master, slave = os.openpty()
            stdio = {"stdin": slave, "stdout": slave, "stderr": slave}
        else:
            stdio = {"stdin": process.PIPE if self.spec.stdin_open else process.DEVNULL,
                     "stdout": process.PIPE, "stderr": process.PIPE}
        self.proc = self.runner.start(cmd.argv, env=env, child_setup=child_setup(tty),
                                      child_main=cmd.in_child, **stdio)
        if tty:
            os.close(slave)
            self._register(self.master, "pty")
            self.stdin_w = self.master if self.spec.stdin_open else None
        else:
            self._register(self.proc.stdout, "stdout")
            self._register(self.proc.stderr, "stderr")
            self.stdin_w = self.proc.stdin
        self.main_pid = self.driver.init_pid(self.spec) or self.proc.pid

    def _spawn_console(self) -> None:
        """-t on a driver that allocates the terminal inside the container."""
        ours, theirs = socket.socketpair()
        cmd = self.driver.console_command(self.spec, theirs.fileno())
        self.proc = self.runner.start(cmd.argv, env=cmd.env or None, child_setup=child_setup(False),
                                      child_main=cmd.in_child,
                                      pass_fds=(theirs.fileno(),), stdin=process.DEVNULL,
                                      stdout=process.PIPE, stderr=process.STDOUT)
        theirs.close()
        self._register(self.proc.stdout, "stdout")   # errors before the pty exists
        ours.settimeout(30)
        try:
            _, fds, _, _ = socket.recv_fds(ours, 16, 1)
        except OSError:
            fds = []
        ours.close()
        if fds:
            self.master = fds[0]
            self._register(self.master, "pty")
            self.stdin_w = self.master if self.spec.stdin_open else None
        self.main_pid = self.driver.init_pid(self.spec) or self.proc.pid

    def _register(self, fd: int, what: str) -> None:
        os.set_blocking(fd, False)
        self.sel.register(fd, selectors.EVENT_READ, what)

    def _pump(self) -> int:
        open_streams = len([k for k in self.sel.get_map().values()
                            if k.data in ("stdout", "stderr", "pty")])
        exited_at = None
        while True:
            timeout = 0.2
            if self.stop_requested and self.stop_deadline is None:
                self._send_stop_signal()
            if self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                self.driver.signal_all(self.spec, signal.SIGKILL, self.main_pid)
                self.stop_deadline = float("inf")
            for key, _ in self.sel.select(timeout):
                what = key.data
                if what == "listener":
                    self._accept(key.fileobj)
                elif what == "client":
                    self._from_client(key.fileobj)
                elif what == "health":
                    self.health.read()
                else:
                    if not self._read_output(key.fd, what):
                        open_streams -= 1
            if self.health is not None:
                self.health.tick()
            self._publish_log_failures()
            if open_streams <= 0 or (self.proc.poll() is not None and self.spec.tty):
                break
            if self.proc.poll() is not None:
                # The main process is gone but something it left behind still
                # holds the output open (a jail has no PID 1 to take it down).
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > 0.5:
                    break
        code = self.proc.wait()
        self._drain()
        return 128 - code if code < 0 else code

    def _health_start(self) -> None:
        """Probe on the schedule the job carries (see health.py), if any."""
        sched = self.job.healthcheck
        if sched:
            from .health import Monitor
            self.health = Monitor(sched, self.rundir, self.sel,
                                  lambda argv: self.driver.health_command(self.spec, argv, self.main_pid),
                                  self.runner.start, on_event=self._event)

    def _health_stop(self) -> None:
        if self.health is not None:
            self.health.stop()
            self.health = None

    def _drain(self) -> None:
        for key in list(self.sel.get_map().values()):
            if key.data in ("stdout", "stderr", "pty"):
                while self._read_output(key.fd, key.data):
                    pass
        if self.master is not None:
            os.close(self.master)
            self.master = None
        if self.proc:
            try:
                self.proc.close_stdin()
            except OSError:
                pass
        self.log.flush()

    def _read_output(self, fd: int, what: str) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:          # EIO: the pty's other side is gone
            data = b""
        if not data:
            self.sel.unregister(fd)
            return False
        stream = "stderr" if what == "stderr" else "stdout"
        self.log.write(stream, data)
        kind = frames.STDERR if what == "stderr" else frames.STDOUT
        for c in list(self.clients):
            try:
                c.sendall(frames.encode(kind, data))
            except OSError:
                self._drop(c)
        return True

    def _send_stop_signal(self) -> None:
        # `stop -s SIG` overrides the container's stop signal
        name = self.stop_signal or self.job.stop_signal
        self._signal_main(signal_number(name))
        self.stop_deadline = time.monotonic() + self._stop_timeout()

    def _stop_timeout(self) -> float:
        if self.stop_timeout is not None:
            return float(self.stop_timeout)
        return float(self.job.stop_timeout)

    def _signal_main(self, signum: int) -> None:
        self.driver.signal_main(self.spec, signum, self.main_pid or (self.proc.pid if self.proc else None))

    def _on_stop(self, signum, frame) -> None:
        self.stop_requested = True


def _wait_child(pid: int) -> None:
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def _await_job() -> str:
    """The job path a starter writes on our stdin when we were started ahead
    of our container (`run`); '' when it closed the pipe instead (the
    container was never made). Stdin is /dev/null afterwards."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            break
        data += chunk
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return data.decode("utf-8", "replace").strip()


def run_job(job_path: str, ready_fd: int, *, own_log: bool = False) -> int:
    """Supervise the job at job_path ("-": read it from stdin first). With
    own_log (or "-": the starter did not know the container yet), stdout and
    stderr go to the job's supervisor.err from here on; otherwise the starter
    pointed them there. The entry of forked and exec'd supervisors alike."""
    if job_path == "-":
        job_path = _await_job()
        if not job_path:
            return 0                    # cancelled: the container was never made
        own_log = True
    job = Job.load(job_path)
    if own_log:
        err = os.open(RD.path(job.rundir, RD.SUPERVISOR_ERR), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(err, 1)
        os.dup2(err, 2)
        os.close(err)
    return Supervisor(job, ready_fd, job_path).run() and 0


def main() -> None:
    sys.exit(run_job(sys.argv[1], int(sys.argv[2]), own_log=True))


if __name__ == "__main__":
    main()
