"""Reading the journal back: what happened between --since and --until that
the filters let through, then (when the window reaches the future) what
happens next, until `until` passes or the caller says stop.

Filters are Docker's (moby daemon/events/filter.go, in our words): every
key given must match; values of one key are alternatives.
    type       the event's Type
    event      its Action, or the part before `:` (health_status, exec_start)
    container  a container event whose ID or name starts with the value (moby's
               FuzzyMatch: exact or prefix);
    volume / network / daemon / plugin / ...   the same for that type
    image      an image event's ID or name, or a container event's image
    label      `KEY` or `KEY=VALUE` among the attributes
    scope      local (all of jocker's events)
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Iterator

from ..filters import EVENT_FILTERS, label_filter, labels_match, pairs
from .journal import OLD_SUFFIX

POLL = 0.1          # seconds between looks at a quiet journal


class EventFilter:
    def __init__(self, filters: dict[str, list[str]] | None):
        self.by: dict[str, list[str]] = {}
        for key, value in pairs(filters, EVENT_FILTERS):
            self.by.setdefault(key, []).append(value)
        self.labels = [label_filter(v) for v in self.by.get("label", [])]

    def _named(self, msg: dict, type_: str) -> bool:
        """The key type_ is absent, or msg is a type_ event naming one value."""
        values = self.by.get(type_)
        if values is None:
            return True
        if msg.get("Type") != type_:
            return False
        actor = msg.get("Actor", {})
        ident, name = actor.get("ID", ""), actor.get("Attributes", {}).get("name", "")
        return any(ident.startswith(v) or name.startswith(v) for v in values if v)

    def _image(self, msg: dict) -> bool:
        values = self.by.get("image")
        if values is None:
            return True
        actor = msg.get("Actor", {})
        attrs = actor.get("Attributes", {})
        if msg.get("Type") == "image":
            have = {actor.get("ID", ""), attrs.get("name", "")}
        elif msg.get("Type") == "container":
            have = {attrs.get("image", "")}
        else:
            return False
        have |= {h.rsplit(":", 1)[0] for h in have if h.endswith(":latest")}
        return any(v in have or v.removesuffix(":latest") in have for v in values)

    def __call__(self, msg: dict) -> bool:
        by = self.by
        action = msg.get("Action", "")
        if "event" in by and action not in by["event"] and action.split(":", 1)[0] not in by["event"]:
            return False
        if "type" in by and msg.get("Type") not in by["type"]:
            return False
        if "scope" in by and msg.get("scope", "local") not in by["scope"]:
            return False
        if not all(self._named(msg, t) for t in ("container", "volume", "network", "daemon", "plugin",
                                                   "node", "service", "secret", "config")):
            return False
        return self._image(msg) and labels_match(msg.get("Actor", {}).get("Attributes", {}), self.labels)


def _lines(data: bytes) -> Iterator[dict]:
    for line in data.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue                     # never expected (whole-line writes); skip, never fail
        if isinstance(msg, dict):
            yield msg


class _Tail:
    """The live journal file, followed across rotations."""

    def __init__(self, path: str):
        self.path = path
        self.f = None
        self.buf = b""
        self._open()

    def _open(self) -> None:
        try:
            self.f = open(self.path, "rb")
        except FileNotFoundError:
            self.f = None

    def rotated(self) -> bool:
        try:
            live = os.stat(self.path)
        except FileNotFoundError:
            return False
        if self.f is None:
            return True
        st = os.fstat(self.f.fileno())
        return (live.st_dev, live.st_ino) != (st.st_dev, st.st_ino)

    def same_file(self, path: str) -> bool:
        if self.f is None:
            return False
        try:
            other = os.stat(path)
        except FileNotFoundError:
            return False
        st = os.fstat(self.f.fileno())
        return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)

    def read(self) -> list[dict]:
        """Whole lines written since the last read (the rest of a rotated
        file first, then the new one)."""
        out: list[dict] = []
        while True:
            moved = self.rotated()       # before reading: what it held is all there
            if self.f is not None:
                self.buf += self.f.read()
                whole, _, self.buf = self.buf.rpartition(b"\n")
                out += _lines(whole)
            if not moved:
                return out
            skipped = self.f is not None and not self.same_file(self.path + OLD_SUFFIX)
            if self.f is not None:
                self.f.close()
            self.buf = b""
            self._open()
            if skipped:
                # Rotated twice since the last look: the generation between
                # is the old one now. (A reader three generations behind has
                # lost one: at ~1 MB a generation, not at human speeds.)
                try:
                    with open(self.path + OLD_SUFFIX, "rb") as f:
                        out += _lines(f.read())
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def events(path: str, *, since: float | None = None, until: float | None = None,
           filters: dict[str, list[str]] | None = None, follow: bool = True,
           should_stop: Callable[[], bool] = lambda: False, poll: float = POLL) -> Iterator[dict]:
    """Matching events, oldest first. With since or until, the journal's
    events in that window first; then, when follow and until is unset or
    still ahead, new events as they are written until until passes or
    should_stop() (checked every poll seconds) says so."""
    match = EventFilter(filters)
    lo = int(since * 1e9) if since is not None else None
    hi = int(until * 1e9) if until is not None else None

    def wanted(msg: dict) -> bool:
        t = int(msg.get("timeNano") or 0)
        return (lo is None or t >= lo) and (hi is None or t <= hi) and match(msg)

    tail = _Tail(path)
    try:
        history = since is not None or until is not None
        old = path + OLD_SUFFIX
        if history and not tail.same_file(old):
            try:
                with open(old, "rb") as f:
                    yield from (m for m in _lines(f.read()) if wanted(m))
            except FileNotFoundError:
                pass
        first = tail.read()
        if history:
            yield from (m for m in first if wanted(m))
        while follow and (hi is None or time.time_ns() <= hi):
            if should_stop():
                return
            fresh = tail.read()
            if fresh:
                yield from (m for m in fresh if wanted(m))
            else:
                time.sleep(poll if hi is None else max(0.0, min(poll, (hi - time.time_ns()) / 1e9)))
        if follow and hi is not None:
            # until has passed: what was stamped before it but written just after
            yield from (m for m in tail.read() if wanted(m))
    finally:
        tail.close()
