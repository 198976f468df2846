"""How a container's supervisor comes to be: forked by the fork-server
(containers/forkserver.py) when one answers, else exec'd as a fresh
interpreter (and a fork-server left behind for the next start); for `run`,
asked for ahead of its container and given its job at hand-over. What comes
back is the supervisor and the read end of its ready pipe, the protocol
lifecycle.start speaks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from .. import rundir as RD
from ..runtime.spec import ContainerSpec

SUPERVISOR_MAIN = "from jocker.containers.supervisor import main; main()"


@dataclass
class Started:
    main_pid: int
    supervisor: "subprocess.Popen | Forked"
    conn: object = None          # attach socket when attached


class Forked:
    """A supervisor the fork-server made. Not our child (init reaps it): its
    end is the EOF of its ready pipe when we still hold it, else its pid's."""

    def __init__(self, pid: int, ready):
        self.pid, self.ready = pid, ready

    def wait(self) -> int:
        if self.ready is not None and not self.ready.closed:
            try:
                while self.ready.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            self.ready.close()
        else:
            from ..host.process import pid_alive
            while pid_alive(self.pid):
                time.sleep(0.05)
        return 0


class Prespawned:
    """A supervisor started ahead of its container (`run` asks for it before
    the clone is made, so its start overlaps ZFS work); it waits for the
    path of its job file on its standard input. Exec'd (proc) or asked of
    the fork-server (pending: the request's connection, whose answer is read
    only at hand-over)."""

    def __init__(self, proc, job_w: int, ready, pending=None):
        self.proc, self.job_w, self.ready, self.pending = proc, job_w, ready, pending

    def _forked(self) -> bool:
        """Resolve a pending fork: False when the server did not fork one."""
        if self.pending is None:
            return self.proc is not None
        from . import forkserver
        pid = forkserver.reply(self.pending)
        self.pending = None
        if pid:
            self.proc = Forked(pid, self.ready)
        return bool(pid)

    def hand_over(self, job_path: str) -> bool:
        """Give it its job; False (and nothing left open) when there is no
        supervisor after all: the caller starts one the usual way."""
        if not self._forked():
            self._close()
            return False
        try:
            os.write(self.job_w, (job_path + "\n").encode())
        except OSError:                 # it died waiting (EPIPE: killed, OOM): reap it, start another
            self.cancel()
            return False
        os.close(self.job_w)
        self.job_w = -1
        return True

    def cancel(self) -> None:
        if self.job_w >= 0:
            forked = self._forked()
            os.close(self.job_w)       # EOF: the supervisor exits without doing anything
            self.job_w = -1
            if forked:
                self.proc.wait()       # (a forked one: the EOF of its ready pipe)
            self.ready.close()

    def _close(self) -> None:
        if self.job_w >= 0:
            os.close(self.job_w)
            self.job_w = -1
        self.ready.close()


def spawn_supervisor(engine, job_arg: str, stdin, errlog):
    from .forkserver import supervisor_env
    r, w = os.pipe()
    env = supervisor_env()
    # -S: no site module (and no .pth imports); -c rather than -m, which loads
    # runpy and importlib.util: the supervisor stays small (~1.4 MB less).
    try:
        proc = engine.runner.spawn([sys.executable, "-S", "-c", SUPERVISOR_MAIN, job_arg, str(w)],
                                   pass_fds=(w,), start_new_session=True, stdin=stdin,
                                   stdout=errlog, stderr=errlog, env=env, cwd="/")
    except BaseException:           # (fork refused: EAGAIN, EMFILE) a long-lived caller keeps no pipe
        os.close(r)
        raise
    finally:
        os.close(w)
    return proc, os.fdopen(r, "r")


def forkserver_idle(engine) -> int:
    return engine.config.int("forkserver_idle")


def prespawn_supervisor(engine) -> Prespawned | None:
    """A supervisor waiting for its job while the clone is made: forked by
    the fork-server when one answers (its request and fork, ~4 ms, leave
    the start's critical path), else exec'd (and a fork-server left behind
    for the next start)."""
    from . import forkserver
    idle = forkserver_idle(engine)
    if idle > 0:
        if forkserver.running(engine.layout.rundir):
            jr, jw = os.pipe()
            r, w = os.pipe()
            try:
                conn = forkserver.send(engine.layout.rundir, "-", w, jr)
            finally:
                os.close(w)
                os.close(jr)
            if conn is not None:
                return Prespawned(None, jw, os.fdopen(r, "r"), pending=conn)
            os.close(r)
            os.close(jw)
        forkserver.ensure_started(engine.layout.rundir, idle)
    jr, jw = os.pipe()
    try:
        proc, ready = spawn_supervisor(engine, "-", jr, subprocess.DEVNULL)
    except BaseException:
        os.close(jw)
        raise
    finally:
        os.close(jr)
    return Prespawned(proc, jw, ready)


def supervise(engine, rundir: str, job_path: str):
    """(supervisor, its ready pipe): forked by the fork-server when one
    answers, else exec'd (and a fork-server left behind for the next start)."""
    from . import forkserver
    idle = forkserver_idle(engine)
    with open(RD.path(rundir, RD.SUPERVISOR_ERR), "ab") as errlog:
        if idle > 0:
            r, w = os.pipe()
            try:
                pid = forkserver.request(engine.layout.rundir, job_path, w, errlog.fileno())
            finally:
                os.close(w)
            if pid:
                ready = os.fdopen(r, "r")
                return Forked(pid, ready), ready
            os.close(r)
            forkserver.ensure_started(engine.layout.rundir, idle)
        return spawn_supervisor(engine, job_path, subprocess.DEVNULL, errlog)


def supervisor_error(spec: ContainerSpec) -> str:
    try:
        tail = open(RD.path(spec.rundir, RD.SUPERVISOR_ERR)).read().strip().splitlines()
        return tail[-1] if tail else "the supervisor exited"
    except OSError:
        return "the supervisor exited"
