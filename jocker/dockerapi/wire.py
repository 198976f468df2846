"""HTTP/1.1 details the standard library leaves to us: request bodies with
Content-Length or chunked transfer coding (the docker CLI streams build
contexts and `cp` archives chunked), chunked streaming responses, and the
connection hijack Docker uses for attach and exec (101 UPGRADED, then the
socket is a raw byte pipe in both directions)."""

from __future__ import annotations

import json
from typing import BinaryIO

from ..errors import UsageError
from .status import TooLarge

MAX_JSON_BODY = 4 << 20            # create/exec/update bodies are a few KiB
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW_STREAM = "application/vnd.docker.raw-stream"


class BodyReader:
    """A file-like reader over one request body; never reads past its end,
    so the connection stays usable for the next request (keep-alive)."""

    def __init__(self, rfile: BinaryIO, length: int | None, chunked: bool):
        self.rfile = rfile
        self.left = length if length is not None else 0
        self.chunked = chunked
        self.done = not chunked and not self.left
        self.consumed = 0

    def _next_chunk(self) -> None:
        line = self.rfile.readline(1024)
        if not line:
            raise UsageError("malformed chunked request body: the connection ended early")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise UsageError("malformed chunked request body: bad chunk size line") from None
        if size == 0:
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass                    # trailers
            self.done = True
        self.left = size

    def read(self, n: int = -1) -> bytes:
        out = []
        want = n if n >= 0 else 1 << 62
        while want > 0 and not self.done:
            if self.left == 0:
                if not self.chunked:
                    self.done = True
                    break
                self._next_chunk()
                continue
            data = self.rfile.read(min(want, self.left, 1 << 20))
            if not data:
                raise UsageError("the request body ended early")
            self.left -= len(data)
            want -= len(data)
            self.consumed += len(data)
            out.append(data)
            if self.left == 0 and self.chunked:
                self.rfile.readline(16)       # the CRLF after each chunk
        return b"".join(out)

    def read_all(self, limit: int) -> bytes:
        if not self.chunked and self.left > limit:
            raise TooLarge(f"request body too large: {self.left} bytes, the limit is {limit}")
        data = self.read(limit + 1)
        while not self.done and len(data) <= limit:
            more = self.read(limit + 1 - len(data))
            if not more:
                break
            data += more
        if len(data) > limit:
            raise TooLarge(f"request body too large: over {limit} bytes")
        return data

    def drain(self, limit: int) -> bool:
        """Consume what is left (up to limit bytes); False if the rest is too
        big to skip, and the connection must be closed instead."""
        skipped = 0
        while not self.done:
            if not self.chunked and self.left > limit - skipped:
                return False
            data = self.read(min(65536, limit - skipped + 1))
            skipped += len(data)
            if skipped > limit:
                return False
        return True


def parse_json(data: bytes, what: str = "request body"):
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"invalid JSON in the {what}: {e}") from None


class ChunkedWriter:
    """A streaming response body in chunked transfer coding, one chunk per
    write, flushed at once (progress and log streams must arrive live)."""

    def __init__(self, wfile, head_only: bool = False):
        self.wfile = wfile
        self.head_only = head_only
        self.closed = False

    def write(self, data: bytes) -> None:
        if data and not self.head_only:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def json(self, obj) -> None:
        self.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def close(self) -> None:
        if not self.closed and not self.head_only:
            self.closed = True
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
