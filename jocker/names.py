"""Validation of every name a user gives us, before it reaches zfs, jail.conf,
pf or a path. Errors say what is wrong, where, and how to fix it."""

from __future__ import annotations

import re

from .errors import InvalidName

# Docker's repository path component: lowercase alphanumerics with single
# separators (., _, __, any number of -).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
COMPONENT_RE = re.compile(rf"^{_COMPONENT}$")
DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
HEX_RE = re.compile(r"^[a-f0-9]{1,64}$")
# Docker's rule for container and volume names.
OBJECT_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
MAX_NAME = 255
MAX_OBJECT_NAME = 128


def _describe(value: str) -> str:
    return repr(value) if len(value) <= 80 else repr(value[:77] + "...")


def check_printable(value: str, what: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidName(f"invalid {what} {_describe(value)}: control characters are not allowed")


def check_object_name(value: str, what: str = "container name") -> str:
    """Container and volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128."""
    check_printable(value, what)
    if not value:
        raise InvalidName(f"invalid {what}: it is empty")
    if len(value) > MAX_OBJECT_NAME:
        raise InvalidName(f"invalid {what} {_describe(value)}: longer than {MAX_OBJECT_NAME} characters")
    if ".." in value or not OBJECT_NAME_RE.match(value):
        raise InvalidName(f"invalid {what} {_describe(value)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                          hint="start with a letter or digit, no spaces, slashes or '..'")
    return value


def check_tag(tag: str) -> str:
    check_printable(tag, "tag")
    if not TAG_RE.match(tag):
        raise InvalidName(f"invalid tag {_describe(tag)}: a tag is up to 128 of [A-Za-z0-9_.-], "
                          "not starting with '.' or '-'")
    return tag


def check_repository(name: str) -> str:
    """A repository path, optionally with a registry domain (host[:port]/...)."""
    check_printable(name, "image name")
    if not name:
        raise InvalidName("invalid image name: it is empty")
    if len(name) > MAX_NAME:
        raise InvalidName(f"invalid image name {_describe(name)}: longer than {MAX_NAME} characters")
    if name.startswith("-"):
        raise InvalidName(f"invalid image name {_describe(name)}: it must not start with '-'")
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not DOMAIN_RE.match(first):
            raise InvalidName(f"invalid registry {_describe(first)} in image name {_describe(name)}")
        parts = parts[1:]
    for part in parts:
        if not COMPONENT_RE.match(part):
            why = "uppercase letters are not allowed" if part.lower() != part else \
                "each path component is lowercase letters and digits with single '.', '_' or '-' between"
            raise InvalidName(f"invalid image name {_describe(name)}: {why}",
                              hint="for example: myapp, myorg/myapp:1.0, localhost:5000/myapp")
    return name
