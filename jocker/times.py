"""RFC 3339 times as Docker writes them (UTC, nanosecond field): the one
place they are made and read. Small on purpose: the supervisor imports it."""

from __future__ import annotations

import time


def now_rfc3339(ts: float | None = None) -> str:
    """`2026-11-28T06:40:00.123456000Z` (microseconds, padded to Docker's nine digits)."""
    ts = time.time() if ts is None else ts
    whole = int(ts // 1)
    micros = int((ts - whole) * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros * 1000:09d}Z"


def parse_time(text: str) -> float:
    """RFC 3339 (with up to nanoseconds) to epoch seconds; 0 when unparsable."""
    if not text:
        return 0.0
    from datetime import datetime, timezone
    try:
        base, _, frac = text.rstrip("Z").partition(".")
        dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return dt.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)
    except ValueError:
        return 0.0


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_seconds(text: str) -> float | None:
    """Go's time.ParseDuration (`1h30m`, `1.5s`, `-10m`, `300ms`) in
    seconds, or None when text is not one."""
    import re
    m = re.fullmatch(r"([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+", text)
    if not m:
        return None
    total = sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text))
    return -total if m.group(1) == "-" else total


def parse_point(value: str, flag: str = "--since", now: float | None = None) -> float:
    """A point in time as Docker's --since/--until take it (its
    GetTimestamp): a Go duration before now (`10m`; `-10s` is ten seconds
    ahead), Unix seconds (`1700000000.5`), or RFC 3339 / a prefix of it
    (`2026-11-28`, `2026-11-28T09:00:00`, with Z or an offset; no zone:
    local time). Epoch seconds; UsageError when it is none of these."""
    from datetime import datetime
    from .errors import UsageError
    text = value.strip()
    if text != "0":
        d = go_duration_seconds(text)
        if d is not None:
            return (time.time() if now is None else now) - d
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        import math
        if math.isfinite(seconds) and abs(seconds) < 1e11:      # within the year 5000
            return seconds
        raise UsageError(f"invalid {flag} value {value!r}: not a time",
                         hint="use a time (2026-11-28T09:00:00Z), Unix seconds, or a duration like 10m")
    import re
    iso = re.sub(r"(\.\d{6})\d+", r"\1", text)          # Python reads up to microseconds
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(f"invalid {flag} value {value!r}",
                         hint="use a time (2026-11-28T09:00:00Z), Unix seconds, or a duration like 10m") from None
    return dt.timestamp()          # a naive time is local, as in Docker
