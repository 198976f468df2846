"""Random identifiers (container, layer, volume IDs): 64 hex characters from
os.urandom, as Docker's. The secrets module would cost every command ~5 ms of
imports (hmac, hashlib, random) for the same bytes."""

from __future__ import annotations

import os


def new_id() -> str:
    return os.urandom(32).hex()


def pick(items: tuple[str, ...]) -> str:
    return items[int.from_bytes(os.urandom(4), "big") % len(items)]


def below(n: int) -> int:
    return int.from_bytes(os.urandom(4), "big") % n
