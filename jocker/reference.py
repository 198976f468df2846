"""Image references: name, name:tag, registry[:port]/path/name:tag,
name@sha256:digest, full or short image IDs."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidName
from .names import DIGEST_RE, HEX_RE, check_printable, check_repository, check_tag

DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class Reference:
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name_tag(self) -> str:
        """The `repo:tag` form stored as a tag (tag defaults to latest)."""
        return f"{self.repository}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return self.name_tag


def parse_reference(text: str) -> Reference:
    """Parse and validate NAME[:TAG][@DIGEST]. Raises InvalidName."""
    check_printable(text, "image reference")
    if not text or text != text.strip() or " " in text:
        raise InvalidName(f"invalid reference format: {text!r}: spaces are not allowed")
    digest = None
    rest = text
    if "@" in text:
        rest, digest = text.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise InvalidName(f"invalid digest {digest!r} in {text!r}: expected sha256:<64 hex>")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:           # a colon after the last slash is a tag, not a port
        rest, tag = rest[:colon], rest[colon + 1:]
        check_tag(tag)
    check_repository(rest)
    return Reference(rest, tag, digest)


def looks_like_id(text: str) -> str | None:
    """The hex part if text is an image/container ID or ID prefix, else None."""
    if text.startswith("sha256:"):
        hexpart = text[7:]
        if HEX_RE.match(hexpart):
            return hexpart
        raise InvalidName(f"invalid ID {text!r}: expected sha256:<hex>")
    if HEX_RE.match(text):
        return text
    return None
