"""A small OCI distribution (registry v2) HTTP client.

Why no library: python-dxf and oras-py are the closest fits but neither is
in FreeBSD ports, dxf pulls in requests, www-authenticate and tqdm and has no
chunked upload, and oras resolves no platform indexes and verifies no
downloads (research §3.6). What a client needs here (a challenge-driven token
flow, streaming GET/PUT/PATCH, redirects without leaking Authorization) fits
in one module over the standard library's http.client, so the port's
dependency list stays click and jinja2.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from ..errors import JockerError, NotFound
from .auth import Challenge, Credentials, parse_challenge

MANIFEST_LIMIT = 4 << 20
ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
USER_AGENT = "jocker/" + __import__("jocker").__version__


class RegistryError(JockerError):
    """The registry refused or failed a request."""


class Unauthorized(RegistryError):
    pass


class Unreachable(RegistryError):
    """No answer: the connection failed or timed out (worth a retry)."""


@dataclass
class Response:
    status: int
    headers: dict
    resp: http.client.HTTPResponse
    conn: http.client.HTTPConnection

    def read(self, n: int = -1) -> bytes:
        return self.resp.read(n) if n >= 0 else self.resp.read()

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Client:
    registry: str                       # docker.io, localhost:5000
    api_host: str                       # registry-1.docker.io, localhost:5000
    insecure: bool = False
    creds: Credentials | None = None
    timeout: float = 60.0
    _tokens: dict = field(default_factory=dict)     # scope -> (header, expiry)
    _challenge: Challenge | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.api_host}"

    # -- raw requests ------------------------------------------------------
    def _open(self, method: str, url: str, headers: dict, body=None) -> Response:
        u = urllib.parse.urlsplit(url)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        kwargs = {"context": ssl.create_default_context()} if u.scheme == "https" else {}
        conn = cls(u.netloc, timeout=self.timeout, blocksize=1 << 20, **kwargs)
        path = u.path + (f"?{u.query}" if u.query else "")
        try:
            conn.request(method, path or "/", body=body, headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
        except (socket.timeout, TimeoutError):
            conn.close()
            raise Unreachable(f"registry {self.registry} did not answer {method} {u.path} "
                                f"within {self.timeout:g}s", hint="the registry hangs or is overloaded; retry later")
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise Unreachable(f"cannot reach registry {self.registry} ({u.netloc}): {e}",
                                hint="check the name, the network, and insecure_registries for plain HTTP")
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp, conn)

    def request(self, method: str, url: str, *, scope: str, headers: dict | None = None,
                body=None, ok=(200,), what: str = "", redirects: int = 5) -> Response:
        """A request with auth (challenge flow on 401) and redirects (no
        Authorization to another host). Raises RegistryError unless the
        status is in ok."""
        if url.startswith("/"):
            url = self.base + url
        hdrs = dict(headers or {})
        auth = self._auth_header(scope)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._open(method, url, hdrs, body)
        if resp.status == 401 and not _is_stream(body):
            challenge = parse_challenge(resp.header("www-authenticate"))
            resp.close()
            if challenge is not None:
                self._challenge = challenge
                hdrs["Authorization"] = self._authorize(challenge, scope)
                resp = self._open(method, url, hdrs, body)
        hops = 0
        while resp.status in (301, 302, 303, 307, 308) and hops < redirects:
            loc = urllib.parse.urljoin(url, resp.header("location"))
            resp.close()
            same = urllib.parse.urlsplit(loc).netloc == urllib.parse.urlsplit(url).netloc
            h = {k: v for k, v in hdrs.items() if same or k != "Authorization"}
            url = loc
            resp = self._open(method if resp.status in (307, 308) else "GET", url, h, body)
            hops += 1
        if resp.status not in ok:
            self._fail(resp, what or f"{method} {urllib.parse.urlsplit(url).path}")
        return resp

    def _fail(self, resp: Response, what: str) -> None:
        try:
            text = resp.read(65536).decode(errors="replace")
        except (OSError, http.client.HTTPException):
            text = ""
        resp.close()
        detail = text.strip()[:200]
        try:
            errs = json.loads(text).get("errors") or []
            if errs:
                detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errs)
        except (ValueError, AttributeError):
            pass
        msg = f"{what}: {resp.status} {http.client.responses.get(resp.status, '')}".rstrip()
        if detail:
            msg += f" ({detail})"
        if resp.status == 401:
            raise Unauthorized(msg, hint=f"log in first: jocker login {self.registry}")
        if resp.status == 403:
            raise Unauthorized(msg, hint="your account may not access this repository")
        if resp.status == 404:
            raise NotFound(msg)
        if resp.status == 429:
            raise RegistryError(msg, hint="the registry rate-limits you; wait and retry")
        if resp.status >= 500:
            raise RegistryError(msg, hint="the registry failed; retry later")
        raise RegistryError(msg)

    # -- auth --------------------------------------------------------------
    def _auth_header(self, scope: str) -> str:
        with self._lock:
            tok = self._tokens.get(scope)
            if tok and tok[1] > time.time():
                return tok[0]
        if self._challenge is not None:
            return self._authorize(self._challenge, scope)
        return ""

    def _authorize(self, ch: Challenge, scope: str) -> str:
        if ch.scheme == "basic":
            if self.creds is None:
                raise Unauthorized(f"registry {self.registry} requires a login",
                                   hint=f"run: jocker login {self.registry}")
            return self.creds.basic()
        if ch.scheme != "bearer" or not ch.params.get("realm"):
            raise RegistryError(f"registry {self.registry}: unsupported authentication {ch.scheme!r}")
        query = [("service", ch.params["service"])] if ch.params.get("service") else []
        query += [("scope", s) for s in scope.split(" ") if s]
        url = ch.params["realm"] + ("&" if "?" in ch.params["realm"] else "?") + urllib.parse.urlencode(query)
        hdrs = {"Authorization": self.creds.basic()} if self.creds else {}
        resp = self._open("GET", url, hdrs)
        if resp.status != 200:
            self._fail(resp, f"token from {urllib.parse.urlsplit(url).netloc}")
        try:
            data = json.loads(resp.read(1 << 20))
        finally:
            resp.close()
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.registry}: the token server sent no token")
        header = "Bearer " + token
        with self._lock:
            self._tokens[scope] = (header, time.time() + max(int(data.get("expires_in") or 60) - 5, 5))
        return header

    def ping(self) -> None:
        """GET /v2/ with credentials: checks a login."""
        resp = self.request("GET", "/v2/", scope="", what=f"login to {self.registry}")
        resp.close()

    # -- manifests and blobs -----------------------------------------------
    def get_manifest(self, repo: str, ref: str, what: str) -> tuple[bytes, str, str]:
        """(bytes, media type, Docker-Content-Digest header)."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope=f"repository:{repo}:pull",
                            headers={"Accept": ACCEPT}, what=what)
        try:
            length = int(resp.header("content-length") or 0)
            if length > MANIFEST_LIMIT:
                raise RegistryError(f"{what}: manifest of {length} bytes is over the "
                                    f"{MANIFEST_LIMIT} byte limit")
            data = resp.read(MANIFEST_LIMIT + 1)
            if len(data) > MANIFEST_LIMIT:
                raise RegistryError(f"{what}: manifest is over the {MANIFEST_LIMIT} byte limit")
            if length and len(data) != length:
                raise RegistryError(f"{what}: manifest truncated ({len(data)} of {length} bytes)")
        except (OSError, http.client.HTTPException) as e:
            raise RegistryError(f"{what}: reading the manifest failed: {e}") from None
        finally:
            resp.close()
        return data, resp.header("content-type").split(";")[0].strip(), resp.header("docker-content-digest")

    def open_blob(self, repo: str, digest: str, what: str) -> Response:
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull", what=what)

    def has_blob(self, repo: str, digest: str, scope: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=scope, ok=(200, 404),
                            what=f"checking blob {digest[:19]}")
        resp.close()
        return resp.status == 200

    def tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list", scope=f"repository:{repo}:pull",
                            what=f"listing tags of {repo}")
        try:
            data = json.loads(resp.read(MANIFEST_LIMIT))
        finally:
            resp.close()
        return sorted(data.get("tags") or [])


def _is_stream(body) -> bool:
    return body is not None and not isinstance(body, (bytes, str))
