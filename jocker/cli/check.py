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
    modules, pf and jocker's anchors in pf.conf, IP forwarding, pf's
    filter_local and racct on FreeBSD; zfs-fuse, /dev/fuse, unshare/nsenter,
    ip/nft and IP forwarding on the Linux workbench; a free subnet in the
    network address pool on both.
    STATUS is ok, FAIL (required: containers cannot run safely), warn
    (optional: a feature is unavailable) or n/a. Exits 1 if a required
    check fails.

    \b
    Example:
      jocker system check
    """
    from .. import hostcheck
    probes = hostcheck.gather(obj.engine)
    hostcheck.gather_networks(obj.engine, probes)
    results = hostcheck.check_host(probes)
    if fmt:
        rows = [{"Name": r.name, "Status": r.status, "Ok": r.ok, "Required": r.required,
                 "Detail": r.detail, "Fix": r.fix} for r in results]
        click.echo(format_rows(fmt, rows))
    else:
        click.echo(table(["CHECK", "STATUS", "DETAIL", "FIX"],
                         [[r.name, r.status, r.detail, r.fix or "-"] for r in results]))
    failed = hostcheck.failed_required(results)
    if failed:
        # an error, not ctx.exit(1): the CLI runs click with standalone_mode=False
        raise hostcheck.HostNotReady(f"{len(failed)} required check(s) failed: "
                                     + ", ".join(r.name for r in failed), hint="see FIX above")
