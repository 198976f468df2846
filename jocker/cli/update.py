"""`jocker update`: change running or stopped containers' restart policy and
resource limits (docker update)."""

from __future__ import annotations

import click


@click.command("update")
@click.argument("containers", nargs=-1, required=True)
@click.option("--restart", help="Restart policy: no, on-failure[:N], always, unless-stopped.")
@click.option("-m", "--memory", help="Memory limit (rctl memoryuse), e.g. 512m.")
@click.option("--memory-swap", help="Memory plus swap (recorded; -1 for unlimited).")
@click.option("--cpus", type=float, help="Number of CPUs (rctl pcpu), e.g. 1.5.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares, a relative weight (recorded).")
@click.option("--cpu-period", type=int, help="CFS period in microseconds (with --cpu-quota).")
@click.option("--cpu-quota", type=int, help="CFS quota in microseconds per period.")
@click.option("--pids-limit", type=int, help="Maximum number of processes (rctl maxproc); -1 lifts it.")
@click.pass_obj
def update_cmd(obj, containers, restart, memory, memory_swap, cpus, cpu_shares, cpu_period, cpu_quota,
               pids_limit):
    """Update the configuration of one or more containers.

    The change is stored for the next start and applied at once to a running
    container where the runtime can: the restart policy always, the limits on
    a FreeBSD jail (rctl).

    \b
    Example:
      jocker update --memory 512m --cpus 1.5 --restart unless-stopped web
    """
    from ..engine_api import UpdateRequest
    from .common import report_each
    req = UpdateRequest.from_cli(restart=restart, memory=memory, memory_swap=memory_swap, cpus=cpus,
                                 cpu_shares=cpu_shares, cpu_quota=cpu_quota, cpu_period=cpu_period,
                                 pids_limit=pids_limit)
    results, warnings = obj.api.containers.update_many(list(containers), req)
    for w in warnings:
        click.echo(f"WARNING: {w}", err=True)
    report_each(results)
