"""`jocker stats`: Docker's live resource table (or one with --no-stream)."""

from __future__ import annotations

import time

import click

from ..format import table

HEADERS = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}B"


def row(s: dict) -> list[str]:
    """Docker's CPU %: the container's share of all CPU time between two
    samples, times the number of CPUs."""
    cpu, pre = s["cpu_stats"], s["precpu_stats"]
    d_cpu = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    d_sys = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    pct = d_cpu / d_sys * cpu["online_cpus"] * 100 if d_sys > 0 and pre["system_cpu_usage"] else 0.0
    mem = s["memory_stats"]
    mem_pct = mem["usage"] / mem["limit"] * 100 if mem["limit"] else 0.0
    return [s["id"][:12], s["name"].lstrip("/"), f"{pct:.2f}%",
            f"{_size(mem['usage'])} / {_size(mem['limit'])}", f"{mem_pct:.2f}%", "0B / 0B", "0B / 0B",
            str(s["pids_stats"]["current"])]


@click.command("stats")
@click.argument("containers", nargs=-1)
@click.option("--no-stream", is_flag=True, help="Print one table and exit.")
@click.pass_obj
def stats_cmd(obj, containers, no_stream):
    """Display a live table of the containers' CPU, memory and process count
    (all running containers when none is named).

    \b
    Examples:
      jocker stats
      jocker stats --no-stream web db
    """
    api = obj.api
    refs = list(containers) or [c["Id"] for c in api.containers.list()]
    raw: dict[str, dict] = {}

    def sample() -> list[list[str]]:
        rows = []
        for ref in refs:
            s = api.containers.stats(ref, raw.get(ref))
            raw[ref] = s.pop("raw")
            rows.append(row(s))
        return rows
    sample()
    while True:
        time.sleep(1)
        rows = sample()
        if no_stream:
            click.echo(table(HEADERS, rows))
            return
        click.echo("\033[2J\033[H" + table(HEADERS, rows))
