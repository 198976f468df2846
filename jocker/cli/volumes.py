"""volume create/ls/inspect/rm/prune: named volumes are ZFS datasets."""

from __future__ import annotations


import click

from ..format import format_rows, table


@click.group("volume")
def volume_group():
    """Manage volumes (ZFS datasets under <root>/volumes)."""


@volume_group.command("create")
@click.argument("name", required=False)
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata KEY=VALUE.")
@click.pass_obj
def volume_create(obj, name, labels):
    """Create a volume; prints its name.

    \b
    Example:
      jocker volume create pgdata
    """
    from ..engine_api.requests import parse_labels
    click.echo(obj.api.volumes.create(name, parse_labels(list(labels))))


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="dangling=true|false, name=..., label=k[=v].")
@click.option("--format", "fmt", help="Go-template format.")
@click.pass_obj
def volume_ls(obj, quiet, filters, fmt):
    """List volumes.

    \b
    Example:
      jocker volume ls --filter dangling=true
    """
    from ..filters import VOLUME_FILTERS, from_flags
    rows = obj.api.volumes.list(filters=from_flags(list(filters), VOLUME_FILTERS))
    if quiet:
        if rows:
            click.echo("\n".join(v["Name"] for v in rows))
    elif fmt:
        click.echo(format_rows(fmt, rows))
    else:
        click.echo(table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in rows]))


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Go-template format, e.g. '{{.Mountpoint}}'.")
@click.pass_obj
def volume_inspect(obj, names, fmt):
    """Display detailed information on volumes.

    \b
    Example:
      jocker volume inspect pgdata
    """
    from .inspect import emit
    emit(obj.api.volumes.inspect_many(list(names)), fmt)


@volume_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not fail when a volume does not exist.")
@click.pass_obj
def volume_rm(obj, names, force):
    """Remove volumes (refused while a container uses them).

    \b
    Example:
      jocker volume rm pgdata
    """
    from .common import for_each

    def rm(name):
        obj.api.volumes.remove(name)
        return [name]
    for_each(names, rm, missing_ok=force)


@volume_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove named volumes too, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="label=k[=v] or label!=k[=v].")
@click.pass_obj
def volume_prune(obj, all_, force, filters):
    """Remove volumes no container uses.

    \b
    Example:
      jocker volume prune -f
    """
    from ..format import human_size
    from .system import prune_filters
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not used by at "
                                       "least one container.\nAre you sure you want to continue?"):
        return
    report = obj.api.volumes.prune(all=all_, filters=prune_filters(filters))
    removed, freed = report["VolumesDeleted"], report["SpaceReclaimed"]
    if removed:
        click.echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size(freed)}")
