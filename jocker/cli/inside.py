"""exec, top, cp, diff, commit, export."""

from __future__ import annotations

import sys

import click

from ..format import table


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Use the caller's terminal.")
@click.option("-u", "--user", default="", help="User name or UID[:GID].")
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("--detach-keys", help="Keys that leave a -it session running (default ctrl-p,ctrl-q).")
@click.pass_obj
def exec_cmd(obj, container, command, interactive, tty, user, workdir, env, detach, detach_keys):
    """Run a command in a running container; exits with its status.

    \b
    Examples:
      jocker exec web ls /usr/local/www
      jocker exec -it web /bin/sh
    """
    import os
    from ..engine_api.requests import parse_env
    from .containers import stdio_streams
    sys.stdout.flush()
    code = obj.api.containers.exec(container, list(command), stdio_streams(interactive or tty),
                                   user=user, workdir=workdir, env=parse_env(list(env), [], os.environ),
                                   tty=tty, interactive=interactive or tty, detach=detach,
                                   detach_keys=detach_keys)
    from .common import exit_attached
    exit_attached(code)


@click.command("top")
@click.argument("container")
@click.pass_obj
def top_cmd(obj, container):
    """Display the running processes of a container.

    \b
    Example:
      jocker top web
    """
    top = obj.api.containers.top(container)
    click.echo(table(top["Titles"], top["Processes"]))


@click.command("cp")
@click.argument("src")
@click.argument("dest")
@click.pass_obj
def cp_cmd(obj, src, dest):
    """Copy files between a container and the host.

    \b
    Examples:
      jocker cp web:/etc/nginx.conf ./nginx.conf
      jocker cp ./index.html web:/usr/local/www/
    """
    obj.api.containers.copy(src, dest)


@click.command("diff")
@click.argument("container")
@click.pass_obj
def diff_cmd(obj, container):
    """Show files added (A), changed (C) or deleted (D) in a container.

    \b
    Example:
      jocker diff web
    """
    for change in obj.api.containers.changes(container):
        click.echo(f"{'CAD'[change['Kind']]} {change['Path']}")


@click.command("commit")
@click.argument("container")
@click.argument("reference", required=False)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-a", "--author", default="", help="Author.")
@click.option("-c", "--change", "changes", multiple=True, help="CMD/ENTRYPOINT/ENV/WORKDIR/USER/LABEL/EXPOSE instruction.")
@click.pass_obj
def commit_cmd(obj, container, reference, message, author, changes):
    """Create a new image from a container's changes (one new ZFS layer).

    \b
    Example:
      jocker commit -m "configured" web web:configured
    """
    click.echo(obj.api.containers.commit(container, reference, message=message, author=author,
                                         changes=list(changes)))


@click.command("export")
@click.argument("container")
@click.option("-o", "--output", help="Write to a file instead of standard output.")
@click.pass_obj
def export_cmd(obj, container, output):
    """Export a container's filesystem as a tar archive (volumes excluded).

    \b
    Examples:
      jocker export -o web.tar web
      jocker export web | jocker import - web-flat
    """
    from .common import write_archive
    write_archive(output, lambda path: obj.api.containers.export_to_file(container, path),
                  lambda out: obj.api.containers.export(container, out))
