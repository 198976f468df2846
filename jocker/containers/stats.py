"""`docker stats`: CPU time, memory and process count of a running container,
in the Engine API's stats shape.

Linux (the workbench): the container's processes are the members of its PID
namespace; their CPU time and RSS come from /proc. FreeBSD: rctl(8)'s usage
of the jail (`rctl -u jail:NAME`), which racct accounts per jail. [U] the
FreeBSD numbers need racct enabled (kern.racct.enable=1) and are confirmed
on a FreeBSD host by the freebsd test tier only."""

from __future__ import annotations

import os
import time

from ..errors import Conflict
from .lifecycle import runtime_spec
from .model import Container

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_rctl_usage(text: str) -> dict[str, int]:
    """Pure: `rctl -u jail:NAME` lines (`cputime=12`, `memoryuse=1048576`...)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and value.isdigit():
            out[key] = int(value)
    return out


def _proc_usage(pids: list[int]) -> tuple[int, int]:
    """(CPU nanoseconds, RSS bytes) summed over pids, from /proc."""
    cpu = rss = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _TICK
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue                    # the process exited meanwhile
    return cpu, rss


def _system_cpu_ns() -> int:
    try:
        with open("/proc/stat") as f:
            first = f.readline().split()[1:]
        return sum(int(x) for x in first) * 1_000_000_000 // _TICK
    except OSError:
        return int(time.monotonic() * 1e9) * (os.cpu_count() or 1)


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def sample(engine, c: Container) -> dict:
    """One raw sample: {cpu_ns, system_ns, mem, pids, limit}."""
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    spec = runtime_spec(engine, c)
    limit = int(c.host.get("Memory") or 0) or _mem_total()
    if engine.config.runtime_name() == "jail":
        from ..runtime.jail_plan import jail_name
        res = engine.runner.run(["rctl", "-u", f"jail:{jail_name(c.id)}"], check=False)
        usage = parse_rctl_usage(res.stdout)
        return {"cpu_ns": usage.get("cputime", 0) * 1_000_000_000,
                "system_ns": int(time.time() * 1e9) * (os.cpu_count() or 1),
                "mem": usage.get("memoryuse", 0), "pids": usage.get("maxproc", 0), "limit": limit}
    pids = engine.runtime.pids(spec, c.runtime.get("main_pid"))
    cpu, rss = _proc_usage(pids)
    return {"cpu_ns": cpu, "system_ns": _system_cpu_ns(), "mem": rss, "pids": len(pids), "limit": limit}


def docker_stats(c: Container, now: dict, before: dict | None, read_at: str, preread_at: str) -> dict:
    """The Engine API's stats object from two samples (before may be None)."""
    def cpu(s):
        return {"cpu_usage": {"total_usage": s["cpu_ns"], "usage_in_kernelmode": 0,
                              "usage_in_usermode": s["cpu_ns"]},
                "system_cpu_usage": s["system_ns"], "online_cpus": os.cpu_count() or 1,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    empty = {"cpu_ns": 0, "system_ns": 0}
    return {
        "read": read_at, "preread": preread_at, "id": c.id, "name": "/" + c.name,
        "num_procs": 0, "pids_stats": {"current": now["pids"]},
        "cpu_stats": cpu(now), "precpu_stats": cpu(before or empty),
        "memory_stats": {"usage": now["mem"], "limit": now["limit"], "stats": {}},
        "blkio_stats": {}, "storage_stats": {}, "networks": {},
    }
