"""Docker-like progress lines for pull and push.

On a terminal each layer keeps one line (`a1b2c3d4e5f6: Downloading  12.3MB/40MB`),
rewritten in place with cursor movements; otherwise a line is printed only
when a layer's status changes, so logs stay readable. Quiet prints nothing.
"""

from __future__ import annotations

from ..format import human_size


class ProgressPrinter:
    def __init__(self, stream, *, tty: bool, quiet: bool = False):
        self.stream, self.tty, self.quiet = stream, tty, quiet
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        ident, status = event.get("id"), event.get("status", "")
        if not ident:
            self.stream.write(status + "\n")
            self.stream.flush()
            return
        text = f"{ident}: {status}"
        if event.get("total"):
            text += f"  {human_size(event.get('current', 0))}/{human_size(event['total'])}"
        if not self.tty:
            if self.last.get(ident) != status:
                self.last[ident] = status
                self.stream.write(f"{ident}: {status}\n")
                self.stream.flush()
            return
        if ident not in self.lines:
            self.order.append(ident)
            self.lines[ident] = text
            self.stream.write(text + "\n")
        else:
            self.lines[ident] = text
            up = len(self.order) - self.order.index(ident)
            self.stream.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        self.stream.flush()
