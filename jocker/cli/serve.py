"""`jocker serve`: the Docker Engine API server."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("-H", "--host", "host", default=None,
              help="unix:///path, or tcp://ADDRESS:PORT with --tlsverify; default: api_host from "
                   "jocker.conf (unix:///var/run/jocker.sock).")
@click.option("--group", default=None,
              help="Group owning the socket (mode 0660); default: api_group from jocker.conf.")
@click.option("--tlsverify", is_flag=True, help="TLS with client certificates (required for tcp://).")
@click.option("--tlscacert", default="", help="CA that signs client certificates (PEM).")
@click.option("--tlscert", default="", help="Server certificate (PEM).")
@click.option("--tlskey", default="", help="Server key (PEM).")
@click.pass_obj
def serve_cmd(obj, host, group, tlsverify, tlscacert, tlscert, tlskey):
    """Serve the Docker Engine API, so the docker CLI, docker-py and
    docker-compose drive jocker. Containers keep running when it stops.

    \b
    Examples:
      jocker serve --host unix:///var/run/jocker.sock
      DOCKER_HOST=unix:///var/run/jocker.sock docker ps
      jocker serve --host tcp://0.0.0.0:2376 --tlsverify --tlscacert ca.pem \\
          --tlscert cert.pem --tlskey key.pem
    """
    import logging
    from ..dockerapi import backend
    from ..dockerapi.server import make_server, serve
    eng = obj.engine
    if not obj.debug:
        level = getattr(logging, eng.config.log_level.upper(), logging.WARNING)
        logging.basicConfig(level=level, format="jocker serve: %(message)s")
    backend.configure(eng.config, eng.runner)
    obj.api.system.warm_supervisors()
    host = host or eng.config.api_host
    server = make_server(host, group=group if group is not None else eng.config.api_group,
                         tlsverify=tlsverify, tlscacert=tlscacert, tlscert=tlscert, tlskey=tlskey)
    click.echo(f"jocker: serving the Docker Engine API on {host}", err=True)
    try:
        serve(server, eng.config.rundir)
    except KeyboardInterrupt:
        pass
