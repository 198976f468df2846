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
