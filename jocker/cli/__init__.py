"""Command-line entry point. `jocker --version` answers before click or any
engine module is imported, so start-up stays close to a bare interpreter.

`run` ends with os._exit once its output is flushed and the atexit handlers
(logging's among them) have run: tearing down an interpreter that has the
engine loaded costs tens of milliseconds, paid after the container is gone
(measured in tests/benchmarks/README.md). Every file it writes is closed by
then; no thread is left."""

import sys

# verbs whose process skips the interpreter's teardown (see above)
FAST_EXIT = ("run",)


def entry() -> None:
    """The local path (jocker/warm/client.py decides before it). Named
    `entry`, not `main`: importing jocker.cli.main rebinds this package's
    `main` to that module, and the warm server has imported it."""
    if sys.argv[1:] in (["--version"], ["-v"]):
        from .. import __version__
        print(f"jocker version {__version__}")
        return
    from .main import run
    fast = next((a for a in sys.argv[1:] if not a.startswith("-")), None) in FAST_EXIT
    try:
        run()
    except SystemExit as e:
        if fast:
            _fast_exit(e.code)
        raise
    if fast:
        _fast_exit(0)


main = entry       # the console script's name before the warm CLI (jocker.cli:main)

# Called with the exit code once everything is flushed, just before
# os._exit: a warm CLI child tells its client at once (jocker/warm/server.py).
before_exit = None


def _fast_exit(code) -> None:
    import atexit
    import os
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return                          # someone still works: the normal way out
    if code is None:
        code = 0
    elif not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if before_exit is not None:
        before_exit(code)
    os._exit(code)
