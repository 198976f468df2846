"""The attach and control protocol between the engine and a supervisor, over a
UNIX socket: Docker's 8-byte stream header (type, 3 zero bytes, big-endian
length) followed by the payload."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
EXIT = 3          # supervisor -> client: the container's exit code, as text
RESIZE = 4        # client -> supervisor: "rows cols"
SIGNAL = 5        # client -> supervisor: a signal number to forward
STDIN_EOF = 6     # client -> supervisor: close the container's stdin
CONTROL = 7       # client -> supervisor: a control message, JSON (see supervisor.control)
REPLY = 8         # supervisor -> client: "ok", or "error <message>"
_HEADER = struct.Struct(">B3xI")


def encode(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class Decoder:
    """Incremental: feed bytes, get complete (kind, payload) frames."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= _HEADER.size:
            kind, size = _HEADER.unpack_from(self.buf)
            if len(self.buf) < _HEADER.size + size:
                break
            out.append((kind, self.buf[_HEADER.size:_HEADER.size + size]))
            self.buf = self.buf[_HEADER.size + size:]
        return out
