"""Run one process in a root filesystem and wait for it: build steps (RUN)
use this. No supervisor: the caller waits and streams the output."""

from __future__ import annotations

import subprocess
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
                                   start_new_session=True)
        try:
            for chunk in iter(lambda: proc.stdout.read1(65536), b""):
                output(chunk)
        finally:
            code = proc.wait()
        return 128 - code if code < 0 else code
    finally:
        driver.destroy(spec)
