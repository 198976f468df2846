"""The persistent content-hash cache behind the build cache: a file is
re-read only when its (path, size, mtime, inode, ctime) changed."""

from __future__ import annotations

import json
import logging
import os
import time

from ..atomic import write_json

log = logging.getLogger("jocker.builder.context")


class HashCache:
    """Persistent file-hash cache: (path, size, mtime_ns, inode, ctime_ns) -> sha256.

    Lets a rebuild of an unchanged context skip reading any file content.
    """

    VERSION = 1

    def __init__(self, path: str | None):
        self.path = path
        self._entries: dict[str, list] | None = None
        self._dirty = False

    @staticmethod
    def _key(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            self._entries = {}
            if self.path:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        data = json.load(f)
                    if data.get("version") == self.VERSION and isinstance(data.get("files"), dict):
                        self._entries = data["files"]
                except (OSError, ValueError, AttributeError):
                    pass  # a missing or damaged cache only costs a re-hash
        return self._entries

    def get(self, path: str, st: os.stat_result) -> str | None:
        entry = self._load().get(path)
        if isinstance(entry, list) and entry[:4] == self._key(st):
            return entry[4]
        return None

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        self._load()[path] = self._key(st) + [digest]
        self._dirty = True

    def save(self) -> None:
        if not self.path or not self._dirty:
            return
        entries = {p: e for p, e in self._load().items() if os.path.lexists(p)}
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        write_json(self.path, {"version": self.VERSION, "files": entries})
        self._entries, self._dirty = entries, False


def _cacheable(before: os.stat_result, after: os.stat_result) -> bool:
    if HashCache._key(before) != HashCache._key(after):
        return False  # changed while we read it
    # On file systems with whole-second timestamps a write later in the same
    # second would keep the key: don't trust very young files there.
    newest = max(after.st_mtime_ns, after.st_ctime_ns)
    coarse = after.st_mtime_ns % 1_000_000_000 == 0 and after.st_ctime_ns % 1_000_000_000 == 0
    return not (coarse and time.time_ns() - newest < 2_000_000_000)


# --- the context -----------------------------------------------------------------
