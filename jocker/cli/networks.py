"""network create/ls/inspect/rm/connect/disconnect/prune, and `port`."""

from __future__ import annotations

import click

from ..format import format_rows, table


@click.group("network")
def network_group():
    """Manage networks (a bridge each; containers on one reach each other by name).

    \b
    Example:
      jocker network create backend && jocker run -d --network backend --name db postgres
    """


@network_group.command("create")
@click.argument("name")
@click.option("-d", "--driver", default="bridge", help="Network driver (bridge).")
@click.option("--subnet", help="Subnet in CIDR form, e.g. 10.89.0.0/16 (default: a free one).")
@click.option("--gateway", help="Gateway address inside the subnet (default: its first address).")
@click.option("--internal", is_flag=True, help="No outbound NAT: containers reach only each other.")
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata KEY=VALUE.")
@click.pass_obj
def network_create(obj, name, driver, subnet, gateway, internal, labels):
    """Create a network; prints its ID.

    \b
    Example:
      jocker network create --subnet 10.89.0.0/16 backend
    """
    from ..engine_api.requests import parse_labels
    res = obj.api.networks.create(name, driver=driver, subnet=subnet, gateway=gateway, internal=internal,
                                  labels=parse_labels(list(labels)))
    click.echo(res["Id"])


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="name=..., driver=..., label=k[=v].")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the IDs.")
@click.option("--format", "fmt", help="Go-template format.")
@click.pass_obj
def network_ls(obj, quiet, filters, no_trunc, fmt):
    """List networks.

    \b
    Example:
      jocker network ls --filter driver=bridge
    """
    from ..filters import NETWORK_FILTERS, from_flags
    from .rows import network_row
    rows = [network_row(rec, no_trunc)
            for rec in obj.api.networks.list(filters=from_flags(list(filters), NETWORK_FILTERS))]
    if quiet:
        if rows:
            click.echo("\n".join(r["ID"] for r in rows))
    elif fmt:
        click.echo(format_rows(fmt, rows))
    else:
        click.echo(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                         [[r["ID"], r["Name"], r["Driver"], r["Scope"]] for r in rows]))


@network_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Go-template format, e.g. '{{.IPAM.Config}}'.")
@click.pass_obj
def network_inspect(obj, names, fmt):
    """Display detailed information on networks, with their containers.

    \b
    Example:
      jocker network inspect -f '{{json .IPAM.Config}}' bridge
    """
    from .inspect import emit
    emit([obj.api.networks.inspect(n) for n in names], fmt)


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not fail when a network does not exist.")
@click.pass_obj
def network_rm(obj, names, force):
    """Remove networks (refused while containers are on them).

    \b
    Example:
      jocker network rm backend
    """
    from .common import for_each

    def rm(name):
        obj.api.networks.remove(name)
        return [name]
    for_each(names, rm, missing_ok=force)


@network_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def network_prune(obj, force):
    """Remove user-defined networks no container is on.

    \b
    Example:
      jocker network prune -f
    """
    if not force and not click.confirm("WARNING! This will remove all custom networks not used by at least "
                                       "one container.\nAre you sure you want to continue?"):
        return
    gone = obj.api.networks.prune()["NetworksDeleted"]
    if gone:
        click.echo("Deleted Networks:\n" + "\n".join(gone) + "\n")


@network_group.command("connect")
@click.argument("network")
@click.argument("container")
@click.option("--ip", help="IPv4 address on the network.")
@click.option("--alias", "aliases", multiple=True, help="Another name for the container on the network.")
@click.pass_obj
def network_connect(obj, network, container, ip, aliases):
    """Connect a container (running or not) to a network.

    \b
    Example:
      jocker network connect --alias cache backend redis
    """
    obj.api.networks.connect(network, container, ip=ip, aliases=list(aliases))


@network_group.command("disconnect")
@click.argument("network")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.pass_obj
def network_disconnect(obj, network, container, force):
    """Disconnect a container from a network.

    \b
    Example:
      jocker network disconnect backend redis
    """
    obj.api.networks.disconnect(network, container, force=force)


@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_obj
def port_cmd(obj, container, private_port):
    """List a container's published ports, or the host side of one.

    \b
    Examples:
      jocker port web
      jocker port web 80/tcp
    """
    from ..errors import NotFound
    ports = obj.api.networks.ports(container)
    if private_port:
        port, _, proto = private_port.partition("/")
        lines = [f"{p['IP']}:{p['PublicPort']}" for p in ports
                 if str(p["PrivatePort"]) == port and p["Type"] == (proto or "tcp")]
        if not lines:
            raise NotFound(f"Error: No public port '{private_port}' published for {container}")
    else:
        lines = [f"{p['PrivatePort']}/{p['Type']} -> {p['IP']}:{p['PublicPort']}" for p in ports]
    if lines:
        click.echo("\n".join(lines))
