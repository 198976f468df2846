"""`jocker logs`: read the json-file log the supervisor writes, with --tail,
--since, -t and -f (follow until the container stops)."""

from __future__ import annotations

import json
import os
import time
from typing import IO, Iterator

from ..times import parse_point, parse_time


def parse_since(value: str | None, now: float | None = None, what: str = "--since") -> float:
    """RFC 3339, a Unix timestamp, or a relative duration like 10m / 2h / 30s
    (jocker.times.parse_point); 0 when unset."""
    if not value:
        return 0.0
    return parse_point(value, what, now)


def _entries(f: IO[str]) -> Iterator[dict]:
    for line in f:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def iter_logs(path: str) -> Iterator[dict]:
    """Every entry, one at a time (a replay of a large log holds one line)."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        yield from _entries(f)


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
