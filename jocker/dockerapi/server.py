"""The listener and the per-connection handler.

Threads (socketserver's ThreadingMixIn over http.server), not asyncio: the
engine is synchronous and blocks on host commands (zfs, jail) and on
supervisor sockets, and attach/exec hijack a connection into a blocking
byte pipe. A thread per connection runs that code unchanged; asyncio would
push nearly every call into an executor anyway. Threads are daemons, so a
stopping server never waits for a client that follows logs forever."""

from __future__ import annotations

import grp
import logging
import os
import socket
import socketserver
import ssl
import stat
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from ..errors import JockerError, UsageError
from . import routes
from .request import Request
from .status import NotModified, message_for, status_for

log = logging.getLogger("jocker.api")
DRAIN_LIMIT = 1 << 20          # an unread body bigger than this closes the connection


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive
    timeout = None

    def version_string(self):
        from . import versions
        return versions.server_header()

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()     # in this thread, not the accept loop
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError) as e:
            log.debug("api: client connection ended: %s", e)     # a client leaving is not an error

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        req = None
        try:
            req = Request(self, method)
            func, params = routes.lookup(method, req.path)
            func(req, **params)
            if not req.responded:
                req.send_empty(204)
        except NotModified:
            if req is not None and not req.responded:
                req.send_empty(304)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:           # never a traceback to the client, never a dead thread
            status = status_for(e)
            if status == 500 and not isinstance(e, JockerError):
                log.error("%s %s: %s", method, self.path, message_for(e), exc_info=True)
            if req is None or not req.responded:
                try:
                    self._answer_error(status, message_for(e), req)
                except OSError:                  # the client already left
                    self.close_connection = True
            else:
                log.debug("%s %s: failed after the answer began: %s", method, self.path, e)
                self.close_connection = True
        finally:
            if req is not None and not req.hijacked and not self.close_connection:
                try:
                    if not req.body.drain(DRAIN_LIMIT):
                        self.close_connection = True
                except (JockerError, OSError):
                    self.close_connection = True
            log.debug("%s %s -> %s (%.1f ms)", method, self.path,
                      req.status if req is not None else 400, (time.monotonic() - started) * 1000)

    def _answer_error(self, status: int, message: str, req: Request | None) -> None:
        import json
        from . import versions
        body = json.dumps({"message": message}).encode() + b"\n"
        if req is not None:
            req.status = status
            req.responded = True
        if status == 413:
            self.close_connection = True     # the body was never read
        self.send_response(status)
        for k, v in versions.common_headers().items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """Malformed request lines and headers: JSON too, and close."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"    # answer with a status line all the same
        try:
            self._answer_error(code, message or self.responses.get(code, ("error",))[0], None)
        except OSError:
            pass

    def log_message(self, format, *args):
        log.debug("api: " + format, *args)


class _Quiet:
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        log.debug("api: connection error", exc_info=True)


class UnixServer(_Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    pass


class TLSServer(_Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    def __init__(self, address, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def _unix_listener(path: str, group: str | None, mode: int = 0o660) -> UnixServer:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISSOCK(st.st_mode):
        # connect() to a regular file or directory also fails with
        # ECONNREFUSED: never take that for a stale socket and unlink it.
        raise JockerError(f"{path} exists and is not a socket; refusing to replace it",
                          hint="move it away, or pass another --host unix://PATH")
    if st is not None:
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
            raise JockerError(f"another server is already listening on {path}",
                              hint="stop it first, or pass another --host")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)             # a stale socket from a server that died
        finally:
            probe.close()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    gid = None
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise JockerError(f"group {group!r} for the API socket does not exist",
                              hint="`jocker system init` creates it, or pass --group") from None
    old = os.umask(0o177)               # never world-accessible, not even for a moment
    try:
        server = UnixServer(path, Handler)
    finally:
        os.umask(old)
    if gid is not None:
        os.chown(path, 0 if os.geteuid() == 0 else -1, gid)
    os.chmod(path, mode)
    return server


def _tls_context(tlscacert: str, tlscert: str, tlskey: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tlscert, tlskey)
        ctx.load_verify_locations(tlscacert)
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"cannot load the TLS certificates: {e}",
                         hint="--tlscacert, --tlscert and --tlskey name PEM files") from None
    ctx.verify_mode = ssl.CERT_REQUIRED       # client certificates, as dockerd --tlsverify
    return ctx


def make_server(host: str, *, group: str | None = None, tlsverify: bool = False,
                tlscacert: str = "", tlscert: str = "", tlskey: str = ""):
    """unix:///path or tcp://addr:port (TLS with client certificates only)."""
    url = urlsplit(host)
    if url.scheme == "unix":
        path = url.path or "/var/run/jocker.sock"
        return _unix_listener(path, group)
    if url.scheme == "tcp":
        if not tlsverify:
            raise UsageError(f"refusing to listen on {host} without TLS",
                             hint="TCP needs --tlsverify with --tlscacert, --tlscert and --tlskey "
                                  "(client certificates); use unix:///path otherwise")
        if not url.port:
            raise UsageError(f"invalid --host {host!r}: tcp://ADDRESS:PORT")
        ctx = _tls_context(tlscacert, tlscert, tlskey)
        return TLSServer((url.hostname or "127.0.0.1", url.port), ctx)
    raise UsageError(f"invalid --host {host!r}", hint="use unix:///path or tcp://address:port")


def serve(server, rundir: str | None = None) -> None:
    """Serve until interrupted. With rundir, a unix socket's address is
    recorded there while it listens (for `jocker compose`)."""
    log.info("jocker API listening on %s", server.server_address)
    record = None
    if rundir and isinstance(server, UnixServer):
        from .compose import record as record_address
        try:
            record = record_address(rundir, "unix://" + os.path.abspath(server.server_address))
        except OSError as e:            # serving matters more than being found by `jocker compose`
            log.warning("could not record the API address under %s: %s", rundir, e)
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (rc.d's stop, daemon(8)) ends serving like ^C does, so the
        # socket file and the address record below are removed.
        def _stop(signum, frame):
            raise SystemExit(0)
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        for path in ([server.server_address] if isinstance(server, UnixServer) else []) + \
                ([record] if record else []):
            try:
                os.unlink(path)
            except OSError:
                pass
