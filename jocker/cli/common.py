"""Habits shared by the commands that take several names."""

from __future__ import annotations

import sys
from typing import Callable, Iterable

import click

from ..errors import JockerError, NotFound


def report_each(results: Iterable[tuple[str, JockerError | None]], *, missing_ok: bool = False) -> None:
    """Docker's way: print each name that succeeded; a failure is one `Error:`
    line and the others still ran; exit 1 if any failed."""
    failed = False
    for name, err in results:
        if err is None:
            click.echo(name)
        elif not (missing_ok and isinstance(err, NotFound)):
            click.echo(f"Error: {err}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def for_each(names: Iterable[str], action: Callable[[str], Iterable[str]], *,
             missing_ok: bool = False) -> None:
    """Act on each argument and print what it reports, as report_each."""
    failed = False
    for name in names:
        try:
            for line in action(name):
                click.echo(line)
        except NotFound as e:
            if not missing_ok:
                click.echo(f"Error: {e}", err=True)
                failed = True
        except JockerError as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def write_archive(output: str | None, to_file: Callable[[str], None], to_stream: Callable) -> None:
    """`save`/`export`: to the -o file, or to standard output unless that is
    a terminal (Docker's refusal)."""
    if output:
        to_file(output)
        return
    if sys.stdout.isatty():
        from ..errors import UsageError
        raise UsageError("cowardly refusing to save to a terminal", hint="use the -o flag or redirect")
    to_stream(sys.stdout.buffer)
    sys.stdout.buffer.flush()


def exit_attached(code: int | None) -> None:
    """Exit with an attached session's status; None means the caller left
    with the detach keys: docker attach/exec say so and exit 1."""
    if code is None:
        click.echo("read escape sequence", err=True)
        sys.exit(1)
    sys.exit(code)
