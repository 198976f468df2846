"""Container commands: run, create, start, attach, stop, restart, kill, rm, ps, logs,
wait, rename, container prune. Each parses flags, calls the engine, prints Docker's output."""

from __future__ import annotations

import sys

import click

from ..filters import PS_FILTERS
from ..format import format_rows, table

_RUN_OPTIONS = [
    click.option("--name", help="Assign a name to the container."),
    click.option("-e", "--env", multiple=True, help="Set environment variables (KEY=VALUE or KEY)."),
    click.option("--env-file", multiple=True, help="Read environment variables from a file."),
    click.option("-w", "--workdir", help="Working directory inside the container."),
    click.option("-u", "--user", help="User name or UID[:GID] inside the container."),
    click.option("--group-add", multiple=True, help="Add a supplementary group (name or GID)."),
    click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only (ZFS readonly=on)."),
    click.option("--tmpfs", multiple=True, help="Mount a tmpfs: PATH[:OPTIONS], e.g. /run:size=64m."),
    click.option("-h", "--hostname", help="Container host name."),
    click.option("-v", "--volume", "volumes", multiple=True,
                 help="Bind mount /host:/ctr[:ro], named volume name:/ctr, or anonymous /ctr."),
    click.option("--entrypoint", help="Overwrite the image's ENTRYPOINT ('' clears it)."),
    click.option("--restart", default="no", help="no, on-failure[:N], always, unless-stopped."),
    click.option("-m", "--memory", help="Memory limit (rctl memoryuse), e.g. 512m."),
    click.option("--cpus", type=float, help="Number of CPUs (rctl pcpu), e.g. 1.5."),
    click.option("--pids-limit", type=int, help="Maximum number of processes (rctl maxproc)."),
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
    click.option("--rm", "autoremove", is_flag=True, help="Remove the container when it exits."),
    click.option("-l", "--label", "labels", multiple=True, help="Set metadata KEY=VALUE."),
    click.option("--network", "--net", default="", help="bridge (default), host, none or a network's name."),
    click.option("-p", "--publish", multiple=True, help="Publish a port: [IP:][HOSTPORT:]PORT[/tcp|/udp]."),
    click.option("-P", "--publish-all", is_flag=True, help="Publish every exposed port on a free host port."),
    click.option("--ip", help="IPv4 address on a user-defined network, e.g. 10.89.0.10."),
    click.option("--network-alias", "network_aliases", multiple=True, help="Another name on the network."),
    click.option("--dns", multiple=True, help="DNS server for the container's resolv.conf."),
    click.option("--dns-search", multiple=True, help="DNS search domain."),
    click.option("--dns-option", "dns_options", multiple=True, help="resolv.conf option, e.g. ndots:2."),
    click.option("--add-host", "add_hosts", multiple=True, help="Add NAME:IP to /etc/hosts."),
    click.option("--device", "devices", multiple=True, help="Unhide a /dev entry (devfs rule), e.g. bpf*."),
    click.option("--allow", multiple=True, help="Jail allow.* permission, e.g. raw_sockets (FreeBSD)."),
    click.option("--jail-param", "jail_params", multiple=True, help="Extra jail parameter KEY=VALUE (FreeBSD)."),
    click.option("--securelevel", type=int, help="The jail's kern.securelevel, -1..3 (FreeBSD)."),
    click.option("--stop-signal", help="Signal to stop the container (default: image's or SIGTERM)."),
    click.option("--stop-timeout", type=int, help="Seconds to wait before killing (default 10)."),
    click.option("--cap-add", multiple=True, help="Add a Linux capability (ALL for every one)."),
    click.option("--cap-drop", multiple=True, help="Drop a Linux capability (ALL for every one)."),
    click.option("--privileged", is_flag=True, help="Give every capability, no seccomp, no masked paths."),
    click.option("--security-opt", multiple=True,
                 help="no-new-privileges[=true|false] or seccomp=unconfined."),
    click.option("--depends-on", multiple=True, help="Containers to start first at boot (jocker extension)."),
    click.option("--health-cmd", help="Command to run to check health (run by /bin/sh -c in the container)."),
    click.option("--health-interval", help="Time between running the check (ms|s|m|h), default 30s."),
    click.option("--health-timeout", help="Maximum time to allow one check to run, default 30s."),
    click.option("--health-retries", type=int, help="Consecutive failures needed to report unhealthy, default 3."),
    click.option("--health-start-period", help="Start period: failures in it do not count, default 0s."),
    click.option("--health-start-interval", help="Time between checks during the start period, default 5s."),
    click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
]


def run_options(f):
    for opt in reversed(_RUN_OPTIONS):
        f = opt(f)
    return f


def _request(image, command, kw):
    from ..engine_api.requests import CreateRequest, parse_health_flags
    health = parse_health_flags(cmd=kw["health_cmd"], interval=kw["health_interval"],
                                timeout=kw["health_timeout"], start_period=kw["health_start_period"],
                                start_interval=kw["health_start_interval"], retries=kw["health_retries"],
                                disabled=kw["no_healthcheck"])
    return CreateRequest.from_cli(
        image, list(command), name=kw["name"], env=kw["env"], env_files=kw["env_file"],
        workdir=kw["workdir"], user=kw["user"], group_add=kw["group_add"], hostname=kw["hostname"],
        volumes=kw["volumes"],
        entrypoint=kw["entrypoint"], restart=kw["restart"], memory=kw["memory"], cpus=kw["cpus"],
        pids_limit=kw["pids_limit"], tty=kw["tty"], interactive=kw["interactive"],
        autoremove=kw["autoremove"], labels=kw["labels"], network=kw["network"], publish=kw["publish"],
        publish_all=kw["publish_all"], ip=kw["ip"], network_aliases=kw["network_aliases"], dns=kw["dns"],
        dns_search=kw["dns_search"], dns_options=kw["dns_options"], add_hosts=kw["add_hosts"],
        devices=kw["devices"], allow=kw["allow"], jail_params=kw["jail_params"],
        securelevel=kw["securelevel"], stop_signal=kw["stop_signal"], stop_timeout=kw["stop_timeout"],
        depends_on=kw["depends_on"], read_only=kw["read_only"], tmpfs=kw["tmpfs"],
        cap_add=kw["cap_add"], cap_drop=kw["cap_drop"],
        privileged=kw["privileged"], security_opt=kw["security_opt"],
        healthcheck=health)


def stdio_streams(interactive: bool = False):
    """The CLI's own stdio as the engine API's streams."""
    from ..engine_api.streams import Streams
    stdin = sys.stdin.fileno() if interactive else None
    return Streams(stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, stdin=stdin,
                   terminal=sys.stdout.fileno() if sys.stdout.isatty() else None)


_CTX = {"ignore_unknown_options": False, "allow_interspersed_args": False}


@click.command("run", context_settings=_CTX)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container ID.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Forward signals to the container.")
@click.option("--detach-keys", help="Keys that detach from a -it container (default ctrl-p,ctrl-q).")
@run_options
@click.pass_obj
def run_cmd(obj, image, command, detach, sig_proxy, detach_keys, **kw):
    """Create and start a container from IMAGE, running COMMAND.

    \b
    Examples:
      jocker run --rm busybox echo hello
      jocker run -d --name web -v /srv/www:/usr/local/www:ro nginx
      jocker run -it --rm freebsd:14.3 /bin/sh
    """
    req = _request(image, command, kw)
    cid, code = obj.api.containers.run(req, detach=detach, sig_proxy=sig_proxy, detach_keys=detach_keys,
                                       streams=None if detach else stdio_streams(req.config.OpenStdin))
    if detach:
        click.echo(cid)
    else:
        sys.exit(code or 0)         # None: detached with the keys, the container goes on


@click.command("create", context_settings=_CTX)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@run_options
@click.pass_obj
def create_cmd(obj, image, command, **kw):
    """Create a container without starting it; prints its ID.

    \b
    Example:
      jocker create --name db -v dbdata:/var/db/postgres postgres
    """
    click.echo(obj.api.containers.create(_request(image, command, kw)))


@click.command("start")
@click.argument("containers", nargs=-1, required=True)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach the container's STDIN.")
@click.option("--detach-keys", help="Keys that detach from a TTY container (default ctrl-p,ctrl-q).")
@click.pass_obj
def start_cmd(obj, containers, attach, interactive, detach_keys):
    """Start one or more stopped containers.

    \b
    Example:
      jocker start -a web
    """
    from .common import report_each
    if attach or interactive:
        if len(containers) > 1:
            from ..errors import UsageError
            raise UsageError("you cannot start and attach multiple containers at once")
        sys.exit(obj.api.containers.start_attached(containers[0], stdio_streams(interactive),
                                                   interactive=interactive, detach_keys=detach_keys) or 0)
    report_each(obj.api.containers.start_many(list(containers)))


@click.command("attach")
@click.argument("container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Forward signals to the container.")
@click.option("--detach-keys", help="Keys that detach from a TTY container (default ctrl-p,ctrl-q).")
@click.pass_obj
def attach_cmd(obj, container, no_stdin, sig_proxy, detach_keys):
    """Attach to a running container's input and output; exit with its status
    when it ends, or leave it running with the detach keys (then, as docker
    attach does, say "read escape sequence" and exit 1).

    \b
    Example:
      jocker attach --detach-keys ctrl-x,x web
    """
    from .common import exit_attached
    exit_attached(obj.api.containers.attach(container, stdio_streams(not no_stdin), stdin=not no_stdin,
                                            sig_proxy=sig_proxy, detach_keys=detach_keys))


@click.command("stop")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing (default: the container's).")
@click.option("-s", "--signal", "sig", help="Signal to send instead of the container's stop signal.")
@click.pass_obj
def stop_cmd(obj, containers, timeout, sig):
    """Stop running containers: stop signal, then SIGKILL after the grace period.

    \b
    Example:
      jocker stop -t 30 web
    """
    from .common import report_each
    report_each(obj.api.containers.stop_many(list(containers), timeout, sig))


@click.command("restart")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing.")
@click.pass_obj
def restart_cmd(obj, containers, timeout):
    """Restart one or more containers.

    \b
    Example:
      jocker restart -t 5 web
    """
    from .common import report_each
    report_each(obj.api.containers.restart_many(list(containers), timeout))


@click.command("kill")
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="SIGKILL", help="Signal to send (default SIGKILL).")
@click.pass_obj
def kill_cmd(obj, containers, sig):
    """Send a signal to the main process of running containers.

    \b
    Example:
      jocker kill -s HUP web
    """
    from .common import report_each
    report_each(obj.api.containers.kill_many(list(containers), sig))


@click.command("rm")
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Kill and remove a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove its anonymous volumes too.")
@click.pass_obj
def rm_cmd(obj, containers, force, volumes):
    """Remove one or more containers (their ZFS clone and logs).

    \b
    Example:
      jocker rm -fv web
    """
    from .common import report_each
    report_each(obj.api.containers.remove_many(list(containers), force=force, volumes=volumes))


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default: running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("-s", "--size", is_flag=True, help="Display sizes (ZFS: written / referenced).")
@click.option("-n", "--last", type=int, default=-1, help="Show the n last created containers.")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container.")
@click.option("-f", "--filter", "filters", multiple=True,
              help="id, name, label, status, ancestor, exited, volume, health (KEY=VALUE).")
@click.option("--format", "fmt", help="Go-template format, e.g. '{{.Names}} {{.Status}}'.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.pass_obj
def ps_cmd(obj, all_, quiet, size, last, latest, filters, fmt, no_trunc):
    """List containers.

    \b
    Examples:
      jocker ps -a
      jocker ps -q --filter status=exited
      jocker ps --filter health=unhealthy
      jocker ps --format '{{.Names}}: {{.Status}}'
    """
    from ..filters import from_flags
    from .rows import ps_row
    flt = from_flags(list(filters), PS_FILTERS)
    found = obj.api.containers.list(all=all_, filters=flt, limit=1 if latest else last)
    rows = [ps_row(c, trunc=not no_trunc) for c in found]
    if no_trunc:
        for r in rows:
            r["ID"] = r["FullID"]
    if quiet:
        if rows:
            click.echo("\n".join(r["ID"] for r in rows))
        return
    if fmt:
        out = format_rows(fmt, rows)
        if out:
            click.echo(out)
        return
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    cells = [[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"],
              r["Ports"], r["Names"]] for r in rows]
    if size:
        headers.append("SIZE")
        for row, r in zip(cells, rows):
            row.append(r["Size"])
    click.echo(table(headers, cells))


@click.command("logs")
@click.argument("container")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("--tail", "-n", "tail", default="all", help="Number of lines from the end (default all).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since a timestamp or relative time (e.g. 10m).")
@click.pass_obj
def logs_cmd(obj, container, follow, tail, timestamps, since):
    """Fetch the logs of a container (stdout to stdout, stderr to stderr).

    \b
    Examples:
      jocker logs --tail 20 -f web
      jocker logs --since 10m web
    """
    from ..errors import UsageError
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f"invalid --tail {tail!r}: a number or all")
    for e in obj.api.containers.logs(container, tail=None if tail == "all" else int(tail),
                                     since=since, follow=follow):
        stream = sys.stderr if e.get("stream") == "stderr" else sys.stdout
        text = e.get("log", "")
        stream.write(f"{e.get('time', '')} {text}" if timestamps else text)
        stream.flush()


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def wait_cmd(obj, containers):
    """Block until containers stop, then print their exit codes.

    \b
    Example:
      code=$(jocker wait job)
    """
    for name in containers:
        click.echo(obj.api.containers.wait(name))


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
@click.pass_obj
def rename_cmd(obj, container, new_name):
    """Rename a container.

    \b
    Example:
      jocker rename web web-old
    """
    obj.api.containers.rename(container, new_name)


def _freeze_cmd(name: str, doc: str):
    """pause/unpause: the same command shape, one facade verb each."""
    @click.command(name, help=doc)
    @click.argument("containers", nargs=-1, required=True)
    @click.pass_obj
    def cmd(obj, containers):
        from .common import for_each
        verb = getattr(obj.api.containers, name)
        for_each(containers, lambda ref: (verb(ref), [ref])[1])
    return cmd


pause_cmd = _freeze_cmd("pause", "Stop every process of running containers (SIGSTOP) until unpause.\n\n"
                                 "\b\nExample:\n  jocker pause web")
unpause_cmd = _freeze_cmd("unpause", "Let the processes of paused containers run again (SIGCONT).\n\n"
                                     "\b\nExample:\n  jocker unpause web")


@click.group("container")
def container_group():
    """Manage containers (the other container verbs are top-level commands)."""


@container_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="until=TIME|DURATION, label=k[=v] or label!=k[=v].")
@click.pass_obj
def container_prune(obj, force, filters):
    """Remove all stopped containers.

    \b
    Examples:
      jocker container prune -f
      jocker container prune -f --filter until=24h --filter label=ci
    """
    from ..format import human_size
    from .system import prune_filters
    flt = prune_filters(filters, until=True)
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?"):
        return
    report = obj.api.containers.prune(flt)
    if report["ContainersDeleted"]:
        click.echo("Deleted Containers:\n" + "\n".join(report["ContainersDeleted"]) + "\n")
    click.echo(f"Total reclaimed space: {human_size(report['SpaceReclaimed'])}")
