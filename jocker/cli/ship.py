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


@click.command("save")
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", help="Write to a file instead of standard output.")
@click.pass_obj
def save_cmd(obj, images, output):
    """Save images to a tar archive (OCI layout and docker-archive in one).

    \b
    Examples:
      jocker save -o web.tar web:1 web:2
      jocker save web | ssh host2 jocker load
    """
    from ..distribution.archive import save, save_to_file
    from ..errors import UsageError
    if output:
        save_to_file(obj.engine, list(images), output)
        return
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal", hint="use -o FILE or redirect")
    save(obj.engine, list(images), sys.stdout.buffer)
    sys.stdout.buffer.flush()


@click.command("load")
@click.option("-i", "--input", "input_", help="Read from a tar archive file instead of standard input.")
@click.option("--platform", help="os/arch for multi-platform archives.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.pass_obj
def load_cmd(obj, input_, platform, quiet):
    """Load images from a tar archive (docker-archive or OCI layout, plain,
    gzip or xz, e.g. FreeBSD's OCI image .txz files).

    \b
    Examples:
      jocker load -i web.tar
      jocker load -i FreeBSD-15.0-RELEASE-amd64-container-image-runtime.txz
    """
    from ..distribution.archive import load
    if input_:
        with open(input_, "rb") as f:
            lines = load(obj.engine, f, platform=platform)
    else:
        lines = load(obj.engine, sys.stdin.buffer, platform=platform)
    for line in lines:
        click.echo(line)
