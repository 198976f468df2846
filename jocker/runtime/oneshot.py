"""Run one process in a root filesystem and wait for it: build steps (RUN)
use this. No supervisor: the caller waits and streams the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable

from .spec import ContainerSpec


def run_process(engine, spec: ContainerSpec, output: Callable[[bytes], None]) -> int:
    """Create the environment, run spec.argv, stream stdout+stderr to output,
    tear down. Returns the exit status (128+N when killed by signal N)."""
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
