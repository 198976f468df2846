"""The build cache: which existing image a step would produce.

A step's key is sha256 over the parent image ID, the step's canonical text
after substitution, the content hash of its sources (COPY/ADD) and the build
args it uses (RUN). The key is stored on the step's image
(`jocker:image.cache`), so the cache is simply the images themselves: a
lookup scans the State read once at build start plus the images this build
made, and costs no host command.
"""

from __future__ import annotations

import hashlib
import json

from ..images.state import Image, State


def step_key(parent_id: str, text: str, content: str = "", args: list[str] = ()) -> str:
    blob = json.dumps({"parent": parent_id, "step": text, "content": content,
                       "args": sorted(args)}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


class CacheIndex:
    def __init__(self, state: State, *, enabled: bool = True):
        self.enabled = enabled
        self._by_key: dict[str, list[Image]] = {}
        for img in state.images.values():
            self.add(img)

    def add(self, img: Image) -> None:
        if img.cache_key:
            found = self._by_key.setdefault(img.cache_key, [])
            if all(other.id != img.id for other in found):
                found.append(img)

    def lookup(self, parent_id: str, key: str) -> Image | None:
        """The newest image made by this step on this parent, unless --no-cache."""
        if not self.enabled:
            return None
        hits = [img for img in self._by_key.get(key, ()) if img.parent == parent_id]
        return max(hits, key=lambda img: img.created) if hits else None
