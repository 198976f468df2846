"""The route table: (method, path pattern) -> handler. Handler modules
register themselves with @route; patterns name their parts like Docker's
router (`{name}` matches one path segment, `{name:.*}` the rest)."""

from __future__ import annotations

import re

from .status import PageNotFound

_TABLE: list[tuple[str, re.Pattern, object]] = []


def _compile(pattern: str) -> re.Pattern:
    def part(m):
        name, _, rx = m.group(1).partition(":")
        return f"(?P<{name}>{rx or '[^/]+'})"
    return re.compile("^" + re.sub(r"\{([^}]+)\}", part, pattern) + "/?$")


def route(method: str, pattern: str):
    def register(func):
        for m in method.split("|"):
            _TABLE.append((m, _compile(pattern), func))
        return func
    return register


def lookup(method: str, path: str):
    """(handler, path parameters); HEAD falls back to GET as in Docker's router."""
    _load()
    for want in (method, "GET") if method == "HEAD" else (method,):
        for m, rx, func in _TABLE:
            if m == want:
                hit = rx.match(path)
                if hit:
                    return func, hit.groupdict()
    raise PageNotFound("page not found")


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        from . import archive, containers, events, execs, images, networks, swarm, system, volumes  # noqa: F401
        _loaded = True
