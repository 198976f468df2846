"""Docker's little value syntaxes in Dockerfiles: ports (EXPOSE) and Go
durations (HEALTHCHECK). Signals (STOPSIGNAL) live in jocker/signals.py."""

from __future__ import annotations

import re
from fractions import Fraction

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/([A-Za-z]+))?$")
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_NS_PER_UNIT = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6,
                "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_port_spec(spec: str) -> list[str]:
    """`80`, `53/udp`, `8000-8010/tcp` -> ["80/tcp"], ... one entry per port."""
    match = _PORT.match(spec) if len(spec) < 64 else None
    if not match:
        raise ValueError(f"invalid port {spec!r} (expected PORT[-END][/PROTO])")
    start = int(match.group(1))
    end = int(match.group(2) or start)
    proto = (match.group(3) or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto {proto!r} in port {spec!r}")
    if not 0 < start <= 65535 or not 0 < end <= 65535:
        raise ValueError(f"invalid port {spec!r}: ports are 1-65535")
    if end < start:
        raise ValueError(f"invalid range specified for container port: {spec!r}")
    return [f"{port}/{proto}" for port in range(start, end + 1)]


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration (`1m30s`, `1.5h`, `500ms`) in nanoseconds."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    total, pos = Fraction(0), 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if not part or not (part.group(1) or part.group(2)):  # a unit needs a number
            raise ValueError(f"invalid duration {text!r}")
        whole, frac = part.group(1) or "0", part.group(2) or ""
        if len(whole) > 20 or len(frac) > 30:       # beyond Go's int64 nanoseconds
            raise ValueError(f"invalid duration {text[:40]!r}")
        total += (int(whole) + Fraction(int(frac or 0), 10 ** len(frac))) * _NS_PER_UNIT[part.group(3)]
        pos = part.end()
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * int(total)
