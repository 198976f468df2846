"""`jocker inspect`: Docker-shaped JSON for images (and containers)."""

from __future__ import annotations

import click

from ..errors import NotFound
from ..format import render_template, to_json


def emit(objs: list[dict], fmt: str | None) -> None:
    if fmt:
        for o in objs:
            click.echo(render_template(fmt, o))
    else:
        click.echo(to_json(objs))


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Go-template format, e.g. '{{.Id}}'.")
@click.option("--type", "kind", type=click.Choice(["image", "container"]), help="Only look at this kind.")
@click.pass_obj
def inspect_cmd(obj, names, fmt, kind):
    """Return low-level information on images or containers.

    \b
    Examples:
      jocker inspect web:latest
      jocker inspect -f '{{.Id}}' web
    """
    out, missing = obj.api.inspect(list(names), kind)
    if out or not missing:
        emit(out, fmt)
    if missing:
        raise NotFound(f"No such object: {missing[0]}")
