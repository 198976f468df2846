"""`jocker build`: parse the flags, run the builder, exit as Docker does."""

from __future__ import annotations

import os
import signal
import sys

import click

from ..errors import UsageError


def _pairs(items: tuple[str, ...], flag: str, *, from_env: bool) -> dict[str, str]:
    """K=V flags. A bare K takes its value from the environment (--build-arg,
    as Docker) or is skipped when unset; for --label a bare K means K=""."""
    out: dict[str, str] = {}
    for item in items:
        key, has_value, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {flag} {item!r}: expected KEY=VALUE")
        if not has_value and from_env:
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


@click.command("build")
@click.argument("context")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag); repeatable.")
@click.option("-f", "--file", "dockerfile", default=None,
              help="Dockerfile: a path relative to the current directory (as Docker), - for stdin "
                   "(default: CONTEXT/Dockerfile).")
@click.option("--build-arg", "build_args", multiple=True, help="Set a build-time variable (KEY=VALUE).")
@click.option("--no-cache", is_flag=True, help="Do not use the cache when building the image.")
@click.option("--target", help="Build only up to this stage.")
@click.option("--label", "labels", multiple=True, help="Set a label on the image (KEY=VALUE).")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output; print the image ID.")
@click.option("--network", default="default", type=click.Choice(["default", "bridge", "host", "none"]),
              help="Network for RUN steps: the default network's NAT, the host's stack, or none.")
@click.pass_obj
def build_cmd(obj, context, tags, dockerfile, build_args, no_cache, target, labels, quiet, network):
    """Build an image from a Dockerfile. CONTEXT is a directory, a tarball
    or - (a Dockerfile or a tar context on stdin).

    \b
    Examples:
      jocker build -t web:1.0 .
      jocker build -f docker/Dockerfile.prod --build-arg VERSION=2 -t web:2 .
      jocker build - < Dockerfile
    """
    from ..engine_api.requests import BuildOptions
    from ..errors import BuildError
    dockerfile_text = None
    if dockerfile == "-":
        if context == "-":
            raise UsageError("the Dockerfile and the context cannot both come from stdin")
        dockerfile_text = sys.stdin.read()
    elif dockerfile and os.path.isdir(context):
        # Docker: a relative -f is relative to the current directory, not the context.
        dockerfile = os.path.abspath(dockerfile)
    opts = BuildOptions(
        context=context, dockerfile=dockerfile if dockerfile and dockerfile != "-" else "Dockerfile",
        dockerfile_text=dockerfile_text, tags=list(tags), no_cache=no_cache, target=target,
        build_args=_pairs(build_args, "--build-arg", from_env=True),
        labels=_pairs(labels, "--label", from_env=False), quiet=quiet,
        network=network)
    try:
        # A signal stops the build container and aborts the step's layer.
        obj.api.images.build(opts, stdin=sys.stdin.buffer, stdout=sys.stdout.buffer,
                             stderr=sys.stderr.buffer,
                             interrupt_on=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    except BuildError as e:       # a failing RUN: Docker prints it bare and exits with its status
        if e.status is None:
            raise
        sys.stdout.flush()
        click.echo(str(e), err=True)
        raise SystemExit(e.status)
