"""The event journal: `<rundir>/events.jsonl` (jocker/rundir.py names it),
one JSON object a line, appended by every process that does something (the
CLI, the API server's threads, each container's supervisor) and tailed by
every reader.

A write opens the file with O_APPEND, takes an exclusive flock on it, checks
that it still holds the live file (a rotation may have renamed it), writes
the whole line in one write(2), and rotates when the file has grown past
MAX_BYTES: the live file is renamed to `events.jsonl.1` (replacing the older
generation) and the next write starts a new one. So at most ~2 x MAX_BYTES
are kept (several thousand events: Docker keeps 256 in memory), lines are
never torn or interleaved, and a reader reads `.1` then the live file.

Standard library only (os, json, time, fcntl) and no jocker imports: each
supervisor imports it for its container's start, die and health events.
"""

from __future__ import annotations

import fcntl
import json
import os
import time

MAX_BYTES = 1 << 20
OLD_SUFFIX = ".1"


def message(type_: str, action: str, actor_id: str, attributes: dict | None = None,
            time_ns: int | None = None) -> dict:
    """One event in the Docker Engine API's shape. Containers and images also
    carry the legacy status/id (and from: the container's image) fields."""
    ns = time.time_ns() if time_ns is None else int(time_ns)
    attrs = {str(k): str(v) for k, v in sorted((attributes or {}).items())}    # a Go map: sorted
    msg: dict = {}
    if type_ in ("container", "image"):
        msg["status"] = action
        msg["id"] = actor_id
        if type_ == "container" and "image" in attrs:
            msg["from"] = attrs["image"]
    msg.update({"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
                "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns})
    return msg


def append(path: str, msg: dict, max_bytes: int = MAX_BYTES) -> None:
    """Append one event; rotate past max_bytes. Raises OSError (callers that
    must not fail catch it: an event is never worth a failed operation)."""
    line = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
    for _ in range(5):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                live = os.stat(path)
            except FileNotFoundError:
                continue                   # rotated away between open and lock
            st = os.fstat(fd)
            if (live.st_dev, live.st_ino) != (st.st_dev, st.st_ino):
                continue                   # another writer rotated it: open the new one
            os.write(fd, line)
            if st.st_size + len(line) > max_bytes:
                os.replace(path, path + OLD_SUFFIX)
            return
        finally:
            os.close(fd)                   # closing drops the lock
    raise OSError(f"could not append to {path}: it keeps being rotated")


def emit(path: str, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> None:
    """message() + append(), never raising: a full disk or an unwritable run
    directory must not fail what the event reports. A run directory not made
    yet (the first command after a reboot) is made, private as jocker's is."""
    msg = message(type_, action, actor_id, attributes)
    try:
        try:
            append(path, msg)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
            append(path, msg)
    except (OSError, ValueError):
        pass
