"""Detach keys: the key sequence that leaves an attached terminal without
stopping the container (Docker's --detach-keys, default ctrl-p,ctrl-q).

Only a TTY session is scanned, as dockerd does: a pipe carries binary data
that must reach the container unchanged. Bytes that begin the sequence are
held back until the next byte shows whether the sequence goes on; a byte
that breaks it releases them, so nothing typed is lost. Pure, except
configured(), which reads the docker CLI's config file."""

from __future__ import annotations

from ..errors import UsageError

DEFAULT = "ctrl-p,ctrl-q"
_CTRL_PUNCT = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(value: str | None) -> bytes:
    """'ctrl-p,ctrl-q' -> b'\\x10\\x11'; None or '' is the default."""
    out = bytearray()
    for key in (value or DEFAULT).split(","):
        if len(key) == 1:
            out.append(ord(key))
            continue
        low = key.lower()
        if low.startswith("ctrl-") and len(low) == 6:
            c = low[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
                continue
            if c in _CTRL_PUNCT:
                out.append(_CTRL_PUNCT[c])
                continue
        raise UsageError(f"invalid detach keys {value!r}: unknown key {key!r}",
                         hint="a comma-separated list such as ctrl-p,ctrl-q: ctrl-a..ctrl-z, ctrl-@, "
                              "ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or single characters")
    if any(b > 127 for b in out):
        raise UsageError(f"invalid detach keys {value!r}: ASCII characters only")
    return bytes(out)


def configured(path: str | None = None) -> str | None:
    """The docker CLI's `detachKeys` setting in its config.json (the file
    `jocker login` shares, $DOCKER_CONFIG or ~/.docker), used when no
    --detach-keys is given; None when unset or unreadable."""
    import json
    from ..distribution.auth import config_path
    try:
        with open(path or config_path(), encoding="utf-8") as f:
            value = json.load(f).get("detachKeys")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def for_client(value: str | None) -> bytes:
    """A front end's --detach-keys, else the configured keys, else Docker's default."""
    return parse(value or configured())


class Scanner:
    """feed(data) -> (bytes to pass on, detached?)."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = 0            # how many bytes of keys matched so far (held back)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for b in data:
            if b == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    self.held = 0
                    return bytes(out), True
                continue
            if self.held:                      # the sequence broke: release what was held
                out += self.keys[:self.held]
                self.held = 0
                if b == self.keys[0]:
                    self.held = 1
                    continue
            out.append(b)
        return bytes(out), False
