"""exec, top, cp, diff, commit."""

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
@click.pass_obj
def exec_cmd(obj, container, command, interactive, tty, user, workdir, env, detach):
    """Run a command in a running container; exits with its status.

    \b
    Examples:
      jocker exec web ls /usr/local/www
      jocker exec -it web /bin/sh
    """
    from ..containers import lifecycle
    from ..containers.create import parse_env
    from ..containers.inside import exec_process
    eng = obj.engine
    c = lifecycle.get(eng, container)
    sys.exit(exec_process(eng, c, list(command), user=user, workdir=workdir,
                          env=parse_env(list(env), []), tty=tty, interactive=interactive or tty,
                          detach=detach))


@click.command("top")
@click.argument("container")
@click.pass_obj
def top_cmd(obj, container):
    """Display the running processes of a container.

    \b
    Example:
      jocker top web
    """
    from ..containers import lifecycle
    from ..containers.inside import top
    headers, rows = top(obj.engine, lifecycle.get(obj.engine, container))
    click.echo(table(headers, rows))


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
    from ..containers.inside import copy
    copy(obj.engine, src, dest)


@click.command("diff")
@click.argument("container")
@click.pass_obj
def diff_cmd(obj, container):
    """Show files added (A), changed (C) or deleted (D) in a container.

    \b
    Example:
      jocker diff web
    """
    from ..containers import lifecycle
    from ..containers.inside import diff
    for change in diff(obj.engine, lifecycle.get(obj.engine, container)):
        click.echo(str(change))


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
    from ..containers import lifecycle
    from ..containers.inside import commit
    from ..images.changes import parse_changes
    c = lifecycle.get(obj.engine, container)
    click.echo(commit(obj.engine, c, reference, message=message, author=author,
                      changes=parse_changes(list(changes), c.config)))
