"""System commands: info, version, system df/prune/init/check."""

from __future__ import annotations

import click

from ..format import human_size, table


def prune_filters(items, until: bool = False) -> dict[str, list[str]]:
    """prune's --filter flags (label=KEY[=VALUE], label!=KEY[=VALUE], and
    until=TIME where the command takes it) as the API's filters."""
    from ..errors import UsageError
    keys = ("label", "label!", "until") if until else ("label", "label!")
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if key not in keys or not sep:
            raise UsageError(f"invalid filter {item!r}", hint="use label=KEY[=VALUE] or label!=KEY[=VALUE]"
                             + (" or until=TIMESTAMP|DURATION" if until else ""))
        out.setdefault(key, []).append(value)
    return out


@click.command("version")
@click.option("-f", "--format", "fmt", help="Go-template format.")
@click.pass_obj
def version_cmd(obj, fmt):
    """Show the jocker version information.

    \b
    Example:
      jocker version --format '{{.Version}}'
    """
    from ..format import render_template
    v = obj.api.system.version()
    if fmt:
        click.echo(render_template(fmt, v))
        return
    click.echo("Client/Server: jocker (daemonless: the CLI is the engine)\n"
               f" Version:           {v['Version']}\n"
               f" API version:       {v['ApiVersion']}\n"
               f" Python version:    {v['PythonVersion']}\n"
               f" OS/Arch:           {v['Os']}/{v['Arch']}\n"
               f" Kernel:            {v['KernelVersion']}")


@click.command("info")
@click.option("-f", "--format", "fmt", help="Go-template format, e.g. '{{json .}}'.")
@click.pass_obj
def info_cmd(obj, fmt):
    """Display system-wide information.

    \b
    Example:
      jocker info --format '{{.Images}} images, {{.ContainersRunning}} running'
    """
    from ..format import render_template
    info = obj.api.system.info()
    if fmt:
        click.echo(render_template(fmt, info))
        return
    lines = [
        f"Containers: {info['Containers']}",
        f" Running: {info['ContainersRunning']}",
        f" Paused: {info['ContainersPaused']}",
        f" Stopped: {info['ContainersStopped']}",
        f"Images: {info['Images']}",
        f"Server Version: {info['ServerVersion']}",
        f"Storage Driver: {info['Driver']}",
        *[f" {k}: {v}" for k, v in info["DriverStatus"]],
        f"Runtime: {info['Runtime']}",
        f"Kernel Version: {info['KernelVersion']}",
        f"Operating System: {info['OperatingSystem']}",
        f"OSType: {info['OSType']}",
        f"Architecture: {info['Architecture']}",
        f"CPUs: {info['NCPU']}",
        f"Total Memory: {human_size(info['MemTotal'])}",
        f"Name: {info['Name']}",
        f"Jocker Root Dir: {info['JockerRootDir']}",
        f"Run Dir: {info['RunDir']}",
        f"Config File: {info['ConfigFile']}",
        *[f" {k} from {v}" for k, v in info["ConfigSources"].items()],
    ]
    click.echo("\n".join(lines))


@click.group("system")
def system_group():
    """Manage jocker itself: df, prune, init, check, info."""


system_group.add_command(info_cmd, "info")


@click.command("events")
@click.option("--since", help="Show events since a time: RFC 3339, Unix seconds, or a duration ago (10m).")
@click.option("--until", help="Stream events until this time (same forms; -30s is 30 seconds ahead).")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter: type, event, container, image, label, network, volume, daemon (KEY=VALUE).")
@click.option("--format", "fmt", help="'json', or a Go template such as '{{.Type}} {{.Action}}'.")
@click.pass_obj
def events_cmd(obj, since, until, filters, fmt):
    """Get real-time events from the engine (past ones with --since/--until).

    \b
    Examples:
      jocker events --filter container=web --filter event=die
      jocker events --since 10m --until 0s --format '{{.Action}} {{.Actor.Attributes.name}}'
      jocker system events --filter type=image --format json
    """
    import json
    import sys
    from ..filters import EVENT_FILTERS, from_flags
    from ..format import event_line, event_view, render_template
    stream = obj.api.system.events(since=since, until=until, filters=from_flags(list(filters), EVENT_FILTERS))
    try:
        for msg in stream:
            if fmt == "json":
                text = json.dumps(msg, separators=(",", ":"))
            elif fmt:
                text = render_template(fmt, event_view(msg))
            else:
                text = event_line(msg)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        stream.close()


system_group.add_command(events_cmd, "events")


@system_group.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@click.option("--format", "fmt", help="Go-template format.")
@click.pass_obj
def df_cmd(obj, verbose, fmt):
    """Show disk usage, from ZFS's own accounting.

    ZFS counts each block once, so SIZE is what the data really occupies:
    layers shared by several images are not counted once per image as
    `docker system df` does.

    \b
    Example:
      jocker system df -v
    """
    from ..format import ago, format_rows
    rows = obj.api.system.df()
    if fmt:
        click.echo(format_rows(fmt, rows["summary"]))
        return
    click.echo(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                     [[r["Type"], r["TotalCount"], r["Active"], human_size(r["Size"]),
                       _reclaim(r)] for r in rows["summary"]]))
    if verbose:
        click.echo("\nImages space usage:\n")
        click.echo(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE",
                          "UNIQUE SIZE", "CONTAINERS"],
                         [[r["Repository"], r["Tag"], r["ID"], ago(r["Created"]), human_size(r["Size"]),
                           human_size(r["SharedSize"]), human_size(r["UniqueSize"]), r["Containers"]]
                          for r in rows["images"]]))


def _reclaim(r) -> str:
    pct = (100 * r["Reclaimable"] // r["Size"]) if r["Size"] else 0
    return f"{human_size(r['Reclaimable'])} ({pct}%)"


@system_group.command("prune")
@click.option("-a", "--all", "all_unused", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes too.")
@click.option("--filter", "filters", multiple=True, help="label=k[=v] or label!=k[=v].")
@click.pass_obj
def prune_cmd(obj, all_unused, force, volumes, filters):
    """Remove stopped containers, unused images and leftovers of interrupted work.

    \b
    Example:
      jocker system prune -af --volumes
    """
    warn = ("WARNING! This will remove:\n  - all stopped containers\n"
            + ("  - all anonymous volumes not used by at least one container\n" if volumes else "")
            + ("  - all images without at least one container associated to them\n" if all_unused
               else "  - all dangling images\n")
            + "\nAre you sure you want to continue?")
    if not force and not click.confirm(warn, default=False):
        return
    report = obj.api.system.prune(all=all_unused, volumes=volumes, filters=prune_filters(filters))
    for key, title in (("ContainersDeleted", "Deleted Containers"), ("VolumesDeleted", "Deleted Volumes"),
                       ("ImagesDeleted", "Deleted Images"),
                       ("LeftoversRemoved", "Removed leftovers of interrupted work")):
        if report.get(key):
            click.echo(f"{title}:\n" + "\n".join(report[key]) + "\n")
    click.echo(f"Total reclaimed space: {human_size(report['SpaceReclaimed'])}")


@system_group.command("init")
@click.pass_obj
def init_cmd(obj):
    """Create the root dataset, or the embedded file-backed pool when no dataset is configured.

    \b
    Examples:
      jocker system init
      jocker --dataset zroot/jocker system init
    """
    created = obj.api.system.init()
    for line in created:
        click.echo(f"created: {line}" if not line.startswith(("created", "imported", "started")) else line)
    where = obj.api.system.storage
    click.echo(f"jocker storage ready: {where['Root']} mounted at {where['Mountpoint']}")


@system_group.command("prepare")
@click.pass_obj
def prepare_cmd(obj):
    """Prepare the host at boot: storage, devfs ruleset, runtime (rc.d start).

    \b
    Example:
      jocker system prepare
    """
    for line in obj.api.system.prepare():
        click.echo(line)


@system_group.command("boot")
@click.pass_obj
def boot_cmd(obj):
    """Start containers whose restart policy says so, in dependency order (rc.d start).

    \b
    Example:
      jocker system boot
    """
    failed = False
    for name, result in obj.api.system.boot():
        click.echo(f"{name}: {result}")
        failed |= result.startswith("failed")
    if failed:
        raise SystemExit(1)


@system_group.command("shutdown")
@click.option("-t", "--time", "timeout", type=int, help="Override every container's stop timeout.")
@click.pass_obj
def shutdown_cmd(obj, timeout):
    """Stop all running containers gracefully, in parallel (rc.d stop).

    \b
    Example:
      jocker system shutdown -t 30
    """
    for name, result in obj.api.system.shutdown(timeout):
        click.echo(f"{name}: {result}")


from .check import check_cmd  # noqa: E402

system_group.add_command(check_cmd, "check")
