"""Shipping commands: pull, push, login, logout, save, load."""

from __future__ import annotations

import sys

import click


def _printer(quiet: bool):
    from .progress import ProgressPrinter
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
    done = obj.api.images.pull(name, platform=platform, all_tags=all_tags, progress=_printer(quiet))
    for p in done:
        if not quiet:
            click.echo(f"Digest: {p['Digest']}")
            click.echo(f"Status: {p['Status']}")
        click.echo(p["Reference"])


@click.command("push")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("--compression-format", "compression", metavar="gzip|zstd",
              help="Push every layer in this compression (blobs made once and kept). "
                   "Default: push_compression in jocker.conf.")
@click.option("--compression-level", "level", type=int, metavar="N",
              help="Level of the blobs made now (gzip 1-9, default 6; zstd 1-19, default 3).")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.pass_obj
def push_cmd(obj, name, all_tags, compression, level, quiet):
    """Upload an image to a registry.

    \b
    Examples:
      jocker tag web localhost:5000/web:1
      jocker push localhost:5000/web:1
      jocker push --compression-format zstd localhost:5000/web:1
    """
    for p in obj.api.images.push(name, all_tags=all_tags, progress=_printer(quiet),
                                 compression=compression, level=level):
        if not quiet:
            click.echo(f"{p['Tag']}: digest: {p['Digest']} size: {p['Size']}")


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
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    res = obj.api.images.login(server, username, password)
    click.echo(f"Login Succeeded (credentials stored in {res['StoredIn']})")


@click.command("logout")
@click.argument("server", required=False)
@click.pass_obj
def logout_cmd(obj, server):
    """Log out from a registry.

    \b
    Examples:
      jocker logout ghcr.io
    """
    res = obj.api.images.logout(server)
    click.echo(f"Removing login credentials for {res['Registry']}" if res["Removed"]
               else f"Not logged in to {res['Registry']}")


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
    from .common import write_archive
    write_archive(output, lambda path: obj.api.images.save_to_file(list(images), path),
                  lambda out: obj.api.images.save(list(images), out))


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
    if input_:
        with open(input_, "rb") as f:
            lines = obj.api.images.load(f, platform=platform)
    else:
        lines = obj.api.images.load(sys.stdin.buffer, platform=platform)
    for line in lines:
        click.echo(line)


@click.command("send")
@click.argument("image")
@click.option("--have", "have_file", help="The receiver's `jocker image have` output: its layers are left out.")
@click.option("--no-blobs", is_flag=True,
              help="Leave out the layers' compressed blobs (a push from the receiver then writes new ones).")
@click.pass_obj
def image_send_cmd(obj, image, have_file, no_blobs):
    """Write an image as ZFS streams to standard output (for `jocker image receive`).

    \b
    Examples:
      jocker image send web | ssh host2 jocker image receive
      ssh host2 jocker image have > have.json
      jocker image send --have have.json web | ssh host2 jocker image receive
    """
    import json
    from ..errors import UsageError
    have = set()
    if have_file:
        try:
            with open(have_file, encoding="utf-8") as f:
                have = set(json.load(f)["layers"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"--have {have_file}: not `jocker image have` output ({e})") from None
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to write an image stream to a terminal",
                         hint="pipe it: jocker image send NAME | ssh HOST jocker image receive")
    obj.api.images.send(image, sys.stdout.buffer, have=have, blobs=not no_blobs)


@click.command("receive")
@click.pass_obj
def image_receive_cmd(obj):
    """Read an image written by `jocker image send` from standard input.

    \b
    Example:
      jocker image send web | ssh host2 jocker image receive
    """
    img = obj.api.images.receive(sys.stdin.buffer)
    click.echo(f"Received image {img['Id']}" + "".join(f"\nLoaded image: {t}" for t in img["RepoTags"]))


@click.command("have")
@click.pass_obj
def image_have_cmd(obj):
    """Print the layers this host has, for `jocker image send --have`.

    \b
    Example:
      ssh host2 jocker image have > have.json
    """
    import json
    click.echo(json.dumps(obj.api.images.have()))
