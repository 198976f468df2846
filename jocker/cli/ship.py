"""Shipping commands: pull, push, login, logout, save, load."""

from __future__ import annotations

import sys

import click


def _printer(quiet: bool):
    from ..distribution.progress import ProgressPrinter
    return ProgressPrinter(sys.stdout, tty=sys.stdout.isatty(), quiet=quiet)


@click.command("pull")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository.")
@click.option("--platform", help="os/arch[/variant] to pull from a multi-platform image, e.g. freebsd/amd64.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.pass_obj
def pull_cmd(obj, name, all_tags, platform, quiet):
    """Download an image from a registry.

    \b
    Examples:
      jocker pull freebsd/freebsd-runtime:15.0
      jocker pull localhost:5000/web:1
      jocker pull -a localhost:5000/web
    """
    from ..distribution.verbs import pull
    done = pull(obj.engine, name, platform=platform, all_tags=all_tags, progress=_printer(quiet))
    for p in done:
        if quiet:
            click.echo(p.reference)
        else:
            click.echo(f"Digest: {p.digest}")
            click.echo(f"Status: Downloaded newer image for {p.reference}")
            click.echo(p.reference)


@click.command("push")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.pass_obj
def push_cmd(obj, name, all_tags, quiet):
    """Upload an image to a registry.

    \b
    Examples:
      jocker tag web localhost:5000/web:1
      jocker push localhost:5000/web:1
    """
    from ..distribution.verbs import push
    for tag, digest, size in push(obj.engine, name, all_tags=all_tags, progress=_printer(quiet)):
        if not quiet:
            click.echo(f"{tag}: digest: {digest} size: {size}")


@click.command("login")
@click.argument("server", required=False)
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_obj
def login_cmd(obj, server, username, password, password_stdin):
    """Log in to a registry (credentials go to ~/.docker/config.json or its helper).

    \b
    Examples:
      echo "$TOKEN" | jocker login -u me --password-stdin ghcr.io
      jocker login localhost:5000
    """
    from ..distribution.verbs import login
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    _, where = login(obj.engine, server, username, password)
    click.echo(f"Login Succeeded (credentials stored in {where})")


@click.command("logout")
@click.argument("server", required=False)
@click.pass_obj
def logout_cmd(obj, server):
    """Log out from a registry.

    \b
    Examples:
      jocker logout ghcr.io
    """
    from ..distribution.verbs import logout
    registry, found = logout(obj.engine, server)
    click.echo(f"Removing login credentials for {registry}" if found
               else f"Not logged in to {registry}")
