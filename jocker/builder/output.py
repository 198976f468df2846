"""What `jocker build` prints, in Docker's classic-builder words.

Lines and the RUN commands' own output go to one binary stream, flushed as
they come, so the order on a terminal or in a pipe is the order of events.
With -q nothing is printed; RUN output is kept and shown (on stderr) only if
that RUN fails, so a quiet build's failure is still explainable.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

from ..format import human_size as _human_size
from .dockerignore import IgnoreMatcher



def human_size(size: float) -> str:
    """go-units HumanSize (4 significant digits, powers of 1000): 2048 -> '2.048kB'."""
    return _human_size(size, 4)


def _tar_entry(size: int) -> int:
    return 512 + (size + 511) // 512 * 512   # header plus padded data


def context_size(root: str, ignore: IgnoreMatcher, extra_files: tuple[int, ...] = ()) -> int:
    """About the size of the tar Docker would send: what the context holds after
    .dockerignore (only stats, no reading). extra_files: sizes of files given
    outside the context (a Dockerfile from stdin)."""
    total = 1024 + sum(_tar_entry(n) for n in extra_files)      # end-of-archive blocks
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirnames):
            rel = rel_dir + name
            if not ignore.matches(rel):
                total += 512
                kept.append(name)
            elif ignore.may_contain_exceptions(rel):
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if ignore.matches(rel_dir + name):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += _tar_entry(st.st_size if not os.path.islink(os.path.join(dirpath, name)) else 0)
    return total


class BuildOutput:
    def __init__(self, stream: BinaryIO | None = None, *, quiet: bool = False,
                 errors: BinaryIO | None = None):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.errors = errors if errors is not None else sys.stderr.buffer
        self.quiet = quiet
        self._held: list[bytes] = []
        self._at_line_start = True

    def line(self, text: str) -> None:
        if self.quiet:
            return
        # A RUN whose output did not end with a newline must not glue our line to it.
        prefix = b"" if self._at_line_start else b"\n"
        self._write(prefix + text.encode("utf-8", "replace") + b"\n")

    def raw(self, data: bytes) -> None:
        """A build container's own output, streamed live (held back with -q)."""
        if not data:
            return
        if self.quiet:
            self._held.append(data)
            return
        self._write(data)

    def end_line(self) -> None:
        """Before an error message: don't leave a RUN's last line unterminated."""
        if not self.quiet and not self._at_line_start:
            self._write(b"\n")

    def begin_capture(self) -> None:
        self._held = []

    def show_captured(self) -> None:
        """-q and a RUN failed: show what it printed (on stderr)."""
        if self.quiet and self._held:
            data = b"".join(self._held)
            self.errors.write(data if data.endswith(b"\n") else data + b"\n")
            self.errors.flush()
        self._held = []

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()
        self._at_line_start = data.endswith(b"\n")
