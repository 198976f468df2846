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
    from ..containers.create import parse_labels
    from ..containers.volumes import create_volume
    eng = obj.engine
    eng.load_state()
    click.echo(create_volume(eng, name, parse_labels(list(labels))))


def _volumes(obj):
    from ..containers.model import load_containers
    from ..containers.volumes import list_volumes, users_of
    eng = obj.engine
    st = eng.load_state()
    cs = load_containers(eng.layout, st.datasets)
    vols = list_volumes(eng, st.datasets)
    for name, v in vols.items():
        v["UsedBy"] = [c.name for c in users_of(cs, name)]
    return vols


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
    from ..images.views import parse_filters
    rows = []
    for v in sorted(_volumes(obj).values(), key=lambda v: v["Name"]):
        ok = True
        for key, value in parse_filters(list(filters), ("dangling", "name", "label")):
            if key == "dangling":
                ok &= (not v["UsedBy"]) == (value in ("true", "1"))
            elif key == "name":
                ok &= value in v["Name"]
            else:
                k, sep, val = value.partition("=")
                ok &= k in v["Labels"] and (not sep or v["Labels"][k] == val)
        if ok:
            rows.append(v)
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
    from ..errors import NotFound
    vols = _volumes(obj)
    missing = [n for n in names if n not in vols]
    if missing:
        raise NotFound(f"No such volume: {missing[0]}")
    from .inspect import emit
    emit([{k: v for k, v in vols[n].items() if k not in ("Size", "Anonymous")} for n in names], fmt)


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
    from ..containers.volumes import remove_volume
    from .common import for_each

    def rm(name):
        remove_volume(obj.engine, name)
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
    from ..containers.volumes import prune_volumes
    from ..format import human_size
    from .system import label_filters
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not used by at "
                                       "least one container.\nAre you sure you want to continue?"):
        return
    obj.engine.load_state()
    removed, freed = prune_volumes(obj.engine, label_filters(filters), anonymous_only=not all_)
    if removed:
        click.echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size(freed)}")
