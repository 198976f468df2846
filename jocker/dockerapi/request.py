"""One API request: its path, version, query and body, and the ways to
answer it (JSON, empty, a chunked stream, a hijacked connection)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from ..errors import UsageError
from . import versions
from .wire import MAX_JSON_BODY, BodyReader, ChunkedWriter, parse_json

_VERSIONED = re.compile(r"^/v(\d+\.\d+)(/.*)$")
_FALSE = ("", "0", "no", "false", "none")


class Request:
    def __init__(self, handler, method: str):
        self.h = handler
        self.method = method
        url = urlsplit(handler.path)
        path = url.path or "/"
        m = _VERSIONED.match(path)
        self.version = versions.check(m.group(1)) if m else versions.DEFAULT
        self.path = m.group(2) if m else path
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.responded = False
        self.status = 0
        length = handler.headers.get("Content-Length")
        chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
        try:
            n = int(length) if length is not None and not chunked else None
        except ValueError:
            raise UsageError(f"invalid Content-Length {length!r}") from None
        if n is not None and n < 0:
            raise UsageError(f"invalid Content-Length {length!r}")
        self.body = BodyReader(handler.rfile, n, chunked)
        self.hijacked = False

    # -- query parameters -------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's boolean parameters: anything but '', 0, no, false, none."""
        v = self.arg(name)
        return default if v is None else v.strip().lower() not in _FALSE

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise UsageError(f"invalid value for {name}: {v!r} is not an integer") from None

    def json_arg(self, name: str):
        v = self.arg(name)
        return parse_json(v.encode(), f"{name!r} parameter") if v else None

    def filters(self) -> dict[str, list[str]]:
        """`filters` as {key: [values]}; the old {key: {value: true}} form too."""
        raw = self.json_arg("filters") or {}
        if not isinstance(raw, dict):
            raise UsageError("invalid filters: expected a JSON object")
        out: dict[str, list[str]] = {}
        for key, values in raw.items():
            if isinstance(values, dict):
                values = [k for k, on in values.items() if on]
            elif isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise UsageError(f"invalid filter {key!r}: expected a list of strings")
            out[key] = values
        return out

    # -- body -------------------------------------------------------------------
    def json_body(self, *, required: bool = False, kind: type = dict):
        data = parse_json(self.body.read_all(MAX_JSON_BODY))
        if data is None:
            if required:
                raise UsageError("a JSON request body is required")
            return kind()
        if not isinstance(data, kind):
            raise UsageError(f"invalid request body: expected a JSON {kind.__name__ if kind is not dict else 'object'}")
        return data

    def header(self, name: str, default: str = "") -> str:
        return self.h.headers.get(name, default)

    # -- answers ----------------------------------------------------------------
    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.responded = True
        self.status = status
        self.h.send_response(status)
        for k, v in versions.common_headers().items():
            self.h.send_header(k, v)
        for k, v in headers.items():
            self.h.send_header(k, v)
        self.h.end_headers()

    def send_bytes(self, data: bytes, status: int = 200, ctype: str = "application/json",
                   headers: dict[str, str] | None = None) -> None:
        hdrs = {"Content-Type": ctype, "Content-Length": str(len(data))}
        hdrs.update(headers or {})
        self._head(status, hdrs)
        if self.method != "HEAD" and data:
            self.h.wfile.write(data)
            self.h.wfile.flush()

    def send_json(self, obj, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(json.dumps(obj).encode() + b"\n", status, "application/json", headers)

    def send_empty(self, status: int = 204, headers: dict[str, str] | None = None) -> None:
        self._head(status, dict(headers or {}, **({"Content-Length": "0"} if status >= 200 else {})))

    def send_error(self, status: int, message: str) -> None:
        self.send_json({"message": message}, status)

    def stream(self, ctype: str = "application/json", status: int = 200,
               headers: dict[str, str] | None = None) -> ChunkedWriter:
        self._head(status, dict(headers or {}, **{"Content-Type": ctype, "Transfer-Encoding": "chunked"}))
        return ChunkedWriter(self.h.wfile, head_only=self.method == "HEAD")

    def hijack(self, ctype: str):
        """Take over the connection: 101 UPGRADED when the client asked for an
        upgrade (current clients), else 200 with the raw stream (old ones).
        Returns (reader, socket): buffered bytes the client already sent
        are in the reader, so stdin must be read from it, not the socket."""
        self.responded = True
        self.hijacked = True
        self.h.close_connection = True
        upgrade = "upgrade" in self.header("Connection").lower()
        lines = ["HTTP/1.1 101 UPGRADED" if upgrade else "HTTP/1.1 200 OK", f"Content-Type: {ctype}"]
        if upgrade:
            lines += ["Connection: Upgrade", "Upgrade: tcp"]
        lines += [f"{k}: {v}" for k, v in versions.common_headers().items()]
        lines.append(f"Server: {versions.server_header()}")
        self.status = 101 if upgrade else 200
        self.h.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.h.wfile.flush()
        return self.h.rfile, self.h.connection

    def client_gone(self) -> bool:
        """True when the client closed its side (used to end follow streams)."""
        import select
        import socket
        sock = self.h.connection
        try:
            ready, _, _ = select.select([sock], [], [], 0)
            if not ready:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
