"""Encoding jocker's metadata as ZFS user properties.

Rules (zfsprops(7)): names lowercase with a ':', under 256 bytes; values under
8 KiB. Larger JSON is split into numbered chunks: `jocker:config.n` holds the
count and `jocker:config.0`, `.1`, ... the pieces. JSON is written with
ensure_ascii and no whitespace, so a value never contains a tab or newline
(which would break `zfs get -H` parsing) and is never the bare "-" that zfs
prints for "unset".
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False      # typing itself costs the supervisor ~0.5 MB of RSS
if TYPE_CHECKING:
    from typing import Any, Mapping

PREFIX = "jocker:"
# Every user property jocker writes, so a batched read can name them instead of
# asking for `all` (3x faster on zfs-fuse with hundreds of snapshots).
SCALAR_KEYS = ("layer.diffid", "layer.blob", "layer.source", "layer.epoch", "layer.tree", "txn", "image.id", "image.cache",
               "container.name", "volume.created", "volume.anonymous")
CHUNKED_KEYS = ("image.config", "image.tags", "image.repodigests", "container.config",
                "container.state", "volume.labels", "network.config")
READ_CHUNKS = 8       # chunks named in a batched read; more need a second, targeted read
# Comfortably below the 8191-byte kernel limit (and zfs-fuse's E2BIG at ~8 KiB).
CHUNK = 4000
_NAME = re.compile(r"^jocker:[a-z0-9][a-z0-9._-]*$")


def prop_name(key: str) -> str:
    name = PREFIX + key
    if not _NAME.match(name) or len(name) > 255:
        raise ValueError(f"invalid user property name: {name!r}")
    return name


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def encode(key: str, value: str) -> dict[str, str]:
    """One logical property as one or more ZFS properties."""
    base = prop_name(key)
    if len(value) <= CHUNK:
        return {base: value}
    pieces = [value[i:i + CHUNK] for i in range(0, len(value), CHUNK)]
    out = {f"{base}.n": str(len(pieces))}
    for i, piece in enumerate(pieces):
        out[f"{base}.{i}"] = piece
    return out


def encode_json(key: str, obj: Any) -> dict[str, str]:
    return encode(key, dumps(obj))


def decode(props: Mapping[str, str], key: str) -> str | None:
    base = prop_name(key)
    if base in props:
        return props[base]
    count = props.get(f"{base}.n")
    if count is None:
        return None
    try:
        return "".join(props[f"{base}.{i}"] for i in range(int(count)))
    except (KeyError, ValueError):
        return None     # a torn write: treat as absent, the GC removes it


def decode_json(props: Mapping[str, str], key: str, default: Any = None) -> Any:
    raw = decode(props, key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def names_for(props: Mapping[str, str], key: str) -> list[str]:
    """Every ZFS property name that stores `key` (for clearing it)."""
    base = prop_name(key)
    return [p for p in props if p == base or (p.startswith(base + ".") and
                                               (p[len(base) + 1:] == "n" or p[len(base) + 1:].isdigit()))]


def batch_names() -> list[str]:
    """The user property names a batched read asks for."""
    names = [PREFIX + k for k in SCALAR_KEYS]
    for k in CHUNKED_KEYS:
        names += [PREFIX + k, f"{PREFIX}{k}.n"] + [f"{PREFIX}{k}.{i}" for i in range(READ_CHUNKS)]
    return names


def missing_chunks(props: Mapping[str, str]) -> list[str]:
    """Chunk names beyond READ_CHUNKS that a batched read did not fetch."""
    out = []
    for k in CHUNKED_KEYS:
        count = props.get(f"{PREFIX}{k}.n", "")
        if count.isdigit() and int(count) > READ_CHUNKS:
            out += [f"{PREFIX}{k}.{i}" for i in range(READ_CHUNKS, int(count))]
    return out
