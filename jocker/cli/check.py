"""`jocker system check`: a table of host readiness checks."""

from __future__ import annotations

import click

from ..format import format_rows, table


@click.command("check")
@click.option("--format", "fmt", help="Go-template format, e.g. '{{.Name}} {{.Status}}' or '{{json .}}'.")
@click.pass_obj
def check_cmd(obj, fmt):
    """Check that this host can run containers, and say how to fix what is missing.

    \b
    Checks ZFS (pool, root dataset), the devfs ruleset, VIMAGE, the kernel
    modules, pf and jocker's anchors in pf.conf, and racct on FreeBSD;
    zfs-fuse, /dev/fuse and unshare/nsenter on the Linux workbench.
    STATUS is ok, FAIL (required: containers cannot run safely), warn
    (optional: a feature is unavailable) or n/a. Exits 1 if a required
    check fails.

    \b
    Example:
      jocker system check
    """
    results = obj.api.system.check()
    if fmt:
        click.echo(format_rows(fmt, results))
    else:
        click.echo(table(["CHECK", "STATUS", "DETAIL", "FIX"],
                         [[r["Name"], r["Status"], r["Detail"], r["Fix"] or "-"] for r in results]))
    # an error, not ctx.exit(1): the CLI runs click with standalone_mode=False
    obj.api.system.require_ready(results, hint="see FIX above")
