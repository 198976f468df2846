"""`run`: create + start + (attached) relay, with Docker's exit codes: 125
when jocker itself fails, 126/127 when the command cannot be run, otherwise
the container's own status."""

from __future__ import annotations

from ..errors import JockerError
from . import lifecycle
from .create import RunOptions, create_container


def _engine_error(e: JockerError) -> JockerError:
    if e.exit_code not in (126, 127):
        e.exit_code = 125
    return e


def run(engine, opts: RunOptions, *, detach: bool, sig_proxy: bool = True) -> tuple[str, int | None]:
    """Returns (container id, exit code when attached)."""
    # The supervisor's interpreter starts while the clone is being made.
    early = lifecycle.prespawn_supervisor(engine)
    try:
        c = create_container(engine, opts)
    except BaseException as e:
        early.cancel()
        raise _engine_error(e) if isinstance(e, JockerError) else e
    try:
        started = lifecycle.start(engine, c, attach=not detach, prespawned=early)
    except JockerError as e:
        if opts.autoremove:
            try:
                lifecycle.remove(engine, lifecycle.get(engine, c.id), force=True, volumes=True)
            except JockerError:
                pass
        raise _engine_error(e)
    if detach:
        return c.id, None
    from .attach import relay
    code = relay(started.conn, stdin_open=opts.interactive, tty=opts.tty, sig_proxy=sig_proxy)
    started.supervisor.wait() if opts.autoremove else None
    return c.id, code


def start_attached(engine, c, *, interactive: bool) -> int:
    started = lifecycle.start(engine, c, attach=True)
    if started is None:
        raise JockerError(f"container {c.name} is already running",
                          hint="use jocker logs -f to follow its output")
    from .attach import relay
    return relay(started.conn, stdin_open=interactive and bool(c.config.get("OpenStdin")),
                 tty=bool(c.config.get("Tty")))
