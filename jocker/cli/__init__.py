"""Command-line entry point. `jocker --version` answers before click or any
engine module is imported, so start-up stays close to a bare interpreter."""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-v"]):
        from .. import __version__
        print(f"jocker version {__version__}")
        return
    from .main import run
    run()
