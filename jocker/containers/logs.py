"""`jocker logs`: read the json-file log the supervisor writes, with --tail,
--since, -t and -f (follow until the container stops)."""

from __future__ import annotations

import json
import os
import re
import time
from typing import IO, Iterator

from ..errors import UsageError
from ..times import parse_time

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


def parse_since(value: str | None, now: float | None = None, what: str = "--since") -> float:
    """RFC 3339, a Unix timestamp, or a relative duration like 10m / 2h / 30s."""
    if not value:
        return 0.0
    m = _DURATION.match(value)
    if m:
        mult = {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        return (now or time.time()) - float(m.group(1)) * mult
    try:
        return float(value)
    except ValueError:
        pass
    ts = parse_time(value if value.endswith("Z") or "." in value else value + "Z")
    if not ts:
        raise UsageError(f"invalid {what} value {value!r}",
                         hint="use a timestamp (2026-11-23T10:00:00Z), seconds, or a duration like 10m")
    return ts


def _entries(f: IO[str]) -> Iterator[dict]:
    for line in f:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def read_logs(path: str, *, tail: int | None, since: float) -> tuple[list[dict], int]:
    """Matching entries and the file offset to follow from."""
    if not os.path.exists(path):
        return [], 0
    with open(path, encoding="utf-8") as f:
        entries = [e for e in _entries(f) if not since or parse_time(e.get("time", "")) >= since]
        offset = f.tell()
    if tail is not None and tail >= 0:
        entries = entries[max(0, len(entries) - tail):] if tail else []
    return entries, offset


def follow(path: str, offset: int, alive, poll: float = 0.05) -> Iterator[dict]:
    """New entries after offset until alive() is false and the file is drained."""
    buf = ""
    while True:
        still = alive()
        try:
            with open(path, encoding="utf-8") as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
        except FileNotFoundError:
            chunk = ""
        buf += chunk
        *lines, buf = buf.split("\n")
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                continue
        if not still and not chunk:
            return
        if not chunk:
            time.sleep(poll)
