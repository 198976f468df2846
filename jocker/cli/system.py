"""System commands: info, version, system df/prune/init/check."""

from __future__ import annotations

import os

import click

from ..format import human_size, table


def label_filters(items) -> list[tuple[str, str | None, bool]]:
    from ..errors import UsageError
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if key not in ("label", "label!") or not sep:
            raise UsageError(f"invalid filter {item!r}", hint="use label=KEY[=VALUE] or label!=KEY[=VALUE]")
        k, s2, v = value.partition("=")
        out.append((k, v if s2 else None, key == "label"))
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
    from ..system_info import version_info
    v = version_info()
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
    from ..system_info import engine_info
    eng = obj.engine
    info = engine_info(eng, eng.load_state())
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
    from ..format import format_rows
    from ..system_usage import usage
    eng = obj.engine
    rows = usage(eng, eng.load_state())
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
                         [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], human_size(r["Size"]),
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
    from ..system_usage import prune
    warn = ("WARNING! This will remove:\n  - all stopped containers\n"
            + ("  - all anonymous volumes not used by at least one container\n" if volumes else "")
            + ("  - all images without at least one container associated to them\n" if all_unused
               else "  - all dangling images\n")
            + "\nAre you sure you want to continue?")
    if not force and not click.confirm(warn, default=False):
        return
    eng = obj.engine
    eng.load_state()
    report = prune(eng, all_unused=all_unused, volumes=volumes, label_filters=label_filters(filters))
    for title, lines in report["sections"]:
        if lines:
            click.echo(f"{title}:\n" + "\n".join(lines) + "\n")
    click.echo(f"Total reclaimed space: {human_size(report['reclaimed'])}")


@system_group.command("init")
@click.pass_obj
def init_cmd(obj):
    """Create the root dataset, or the embedded file-backed pool when no dataset is configured.

    \b
    Examples:
      jocker system init
      jocker --dataset zroot/jocker system init
    """
    from ..hostgroup import ensure_group
    eng = obj.engine
    created = eng.init_storage()
    if os.geteuid() == 0 and ensure_group(eng.runner, eng.config.api_group):
        created.append(f"created group {eng.config.api_group} (for the API socket of jocker serve)")
    for line in created:
        click.echo(f"created: {line}" if not line.startswith(("created", "imported", "started")) else line)
    click.echo(f"jocker storage ready: {eng.layout.root} mounted at {eng.layout.mountpoint}")


@system_group.command("prepare")
@click.pass_obj
def prepare_cmd(obj):
    """Prepare the host at boot: storage, devfs ruleset, runtime (rc.d start).

    \b
    Example:
      jocker system prepare
    """
    from ..containers.boot import prepare
    for line in prepare(obj.engine):
        click.echo(line)


@system_group.command("boot")
@click.pass_obj
def boot_cmd(obj):
    """Start containers whose restart policy says so, in dependency order (rc.d start).

    \b
    Example:
      jocker system boot
    """
    from ..containers.boot import boot
    failed = False
    for name, result in boot(obj.engine):
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
    from ..containers.boot import shutdown
    for name, result in shutdown(obj.engine, timeout):
        click.echo(f"{name}: {result}")


from .check import check_cmd  # noqa: E402

system_group.add_command(check_cmd, "check")
