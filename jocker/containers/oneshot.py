"""Run-to-completion containers: a build's RUN step.

The builder is a client of this entry point, as moby's builder is a client
of the daemon's containers: it hands over what to run (argv, env, user,
workdir, network, root filesystem) and gets the output and the exit status.
This room picks the run directory, leases the network, builds the runtime
spec, runs the process with the runtime driver, and tears everything down.
No supervisor: the caller waits, and the process dies with it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from .. import rundir as RD
from ..errors import JockerError
from ..host.process import pid_alive
from ..host.tree import remove_tree
from ..runtime.spec import ContainerSpec, Mount

log = logging.getLogger("jocker.containers.oneshot")


@dataclass
class OneShotRequest:
    id: str                        # the build container's id (64 hex)
    rootfs: str                    # a mounted writable clone
    argv: list[str]
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = "/"
    network: str = "default"       # none | host | default | a network name
    # Given the run directory, the extra mounts (/etc files, heredoc scripts).
    mounts: Callable[[str], list[Mount]] = lambda rundir: []


class OneShot:
    """One at a time: `kill()` (from a signal handler) takes down the one running."""

    def __init__(self, engine):
        self.engine = engine
        self._running: ContainerSpec | None = None

    def run(self, req: OneShotRequest, output: Callable[[bytes], None]) -> int:
        """Run req.argv to completion, streaming stdout+stderr to output.
        Returns the exit status (128+N when killed by signal N)."""
        from ..net.networks import build_attachment
        engine = self.engine
        rundir = os.path.join(engine.layout.rundir, RD.oneshot_dir_name(os.getpid(), req.id))
        os.makedirs(rundir, exist_ok=True)
        mode, att, release = build_attachment(engine, req.id, req.network)
        with open(os.path.join(rundir, RD.ONESHOT_NET), "w") as f:
            json.dump(att, f)        # a killed build's network is torn down from this
        try:
            spec = ContainerSpec(id=req.id, name=f"build-{req.id[:12]}", rootfs=req.rootfs,
                                 rundir=rundir, argv=req.argv, hostname=req.id[:12], env=req.env,
                                 user=req.user, workdir=req.workdir, network=mode, net=att,
                                 mounts=req.mounts(rundir))
            self._running = spec
            try:
                return _run_process(engine, spec, output)
            finally:
                self._running = None
        finally:
            release()
            remove_tree(rundir)

    def kill(self) -> None:
        spec = self._running
        if spec is not None:
            try:
                self.engine.runtime.signal_all(spec, signal.SIGKILL, None)
            except Exception:      # already gone: nothing to stop
                pass


def _run_process(engine, spec: ContainerSpec, output: Callable[[bytes], None]) -> int:
    driver = engine.runtime
    driver.create(spec)
    try:
        cmd = driver.main_command(spec)
        proc = engine.runner.spawn(cmd.argv, env=cmd.env or None, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        try:
            for chunk in iter(lambda: proc.stdout.read1(65536), b""):
                output(chunk)
        except BaseException:
            # Interrupted (Ctrl-C, an error in output): the process runs in its
            # own session, so take its whole group down before tearing down.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        code = proc.wait()
        return 128 - code if code < 0 else code
    finally:
        driver.destroy(spec)


def _die_with_parent() -> None:
    """Linux: a build step dies with the jocker process that runs it."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG


def collect_stale(engine) -> list[str]:
    """Run directories of oneshot containers whose process is gone, and the
    network objects (netns, veth/epair) their net.json names; at the start of
    every build and by `system prune` (a killed last build's netns and veth
    used to stay for good). Returns the directories removed."""
    rundir = engine.layout.rundir
    removed: list[str] = []
    try:
        names = os.listdir(rundir)
    except OSError:
        return removed
    for name in names:
        owner = RD.oneshot_owner(name)
        if owner is None or pid_alive(owner):
            continue
        try:
            with open(os.path.join(rundir, name, RD.ONESHOT_NET)) as f:
                engine.network_driver.teardown(json.load(f))
        except (OSError, ValueError, JockerError) as e:
            if not isinstance(e, FileNotFoundError):
                log.warning("cannot tear down the network of an interrupted build step: %s", e)
        remove_tree(os.path.join(rundir, name))
        removed.append(os.path.join(rundir, name))
    return removed
