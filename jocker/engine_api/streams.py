"""The caller's side of an attached or exec'd process, as parameters: the CLI
passes its own stdio, the API server the halves of an HTTP connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO


@dataclass
class Streams:
    stdout: BinaryIO                    # the container's stdout (and its terminal output with -t)
    stderr: BinaryIO | None = None      # None: stderr is written to stdout
    stdin: int | None = None            # a readable fd for the container's input (-i), or None
    terminal: int | None = None         # the caller's terminal fd (-t): raw mode and window size

    @property
    def err(self) -> BinaryIO:
        return self.stderr if self.stderr is not None else self.stdout
