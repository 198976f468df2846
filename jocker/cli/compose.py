"""`jocker compose`: Compose (docker-compose) against jocker's API server."""

from __future__ import annotations

import click


@click.command("compose", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def compose_cmd(obj, args):
    """Run the installed Compose tool (docker-compose, or the docker compose
    plugin) with DOCKER_HOST pointed at jocker's API server; every argument
    goes to it (`jocker compose up --help` is Compose's help). Needs a
    running `jocker serve`: api_host from jocker.conf, else the socket a
    running server recorded.

    \b
    Examples:
      jocker compose up -d
      jocker compose ps
      jocker compose down -v
    """
    import os
    return obj.api.system.compose(list(args), dict(os.environ))
