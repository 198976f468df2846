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
    from ..images.views import inspect_image
    st = obj.engine.load_state()
    out, missing = [], []
    for name in names:
        found = None
        if kind in (None, "container"):
            found = _container(obj.engine, st, name)
        if found is None and kind in (None, "image"):
            try:
                found = inspect_image(st, st.resolve(name))
            except NotFound:
                found = None
        if found is None:
            missing.append(name)
        else:
            out.append(found)
    if out or not missing:
        emit(out, fmt)
    if missing:
        raise NotFound(f"No such object: {missing[0]}")


def _container(engine, st, name):
    try:
        from ..containers.views import inspect_by_name
    except ImportError:
        return None
    return inspect_by_name(engine, st, name)
