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
    from ..containers.create import parse_labels
    from ..net import networks
    rec = networks.create(obj.engine, name, subnet=subnet, gateway=gateway, internal=internal,
                          labels=parse_labels(list(labels)), driver_name=driver)
    click.echo(rec["Id"])


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
    from ..images.views import parse_filters
    from ..net import networks, views
    rows = []
    for rec in networks.listing(obj.engine):
        ok = True
        for key, value in parse_filters(list(filters), ("name", "driver", "label", "id")):
            if key == "name":
                ok &= value in rec["Name"]
            elif key == "driver":
                ok &= rec["Driver"] == value
            elif key == "id":
                ok &= rec["Id"].startswith(value)
            else:
                k, sep, val = value.partition("=")
                labels = rec.get("Labels") or {}
                ok &= k in labels and (not sep or labels[k] == val)
        if ok:
            row = views.ls_row(rec)
            if no_trunc:
                row["ID"] = rec["Id"]
            rows.append(row)
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
    from ..net import networks
    from .inspect import emit
    emit([networks.inspect(obj.engine, n) for n in names], fmt)


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
    from ..net import networks
    from .common import for_each

    def rm(name):
        networks.remove(obj.engine, name)
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
    from ..net import networks
    if not force and not click.confirm("WARNING! This will remove all custom networks not used by at least "
                                       "one container.\nAre you sure you want to continue?"):
        return
    gone = networks.prune(obj.engine)
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
    from ..net import networks
    networks.connect(obj.engine, network, container, ip=ip, aliases=list(aliases))


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
    from ..net import networks
    networks.disconnect(obj.engine, network, container, force=force)


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
    from ..containers.lifecycle import get
    from ..errors import NotFound
    from ..net import views
    lines = views.port_lines(get(obj.engine, container), private_port)
    if private_port and not lines:
        raise NotFound(f"Error: No public port '{private_port}' published for {container}")
    if lines:
        click.echo("\n".join(lines))
