"""API version negotiation and the headers every response carries.

The server advertises API 1.44 (`Api-Version`, and `ApiVersion` in
/version) and accepts every version from 1.24 (docker-py's floor) up to 1.50,
the newest the stock docker CLI 28 sends; an unprefixed path means the
advertised version. Outside that range: 400, with Docker's wording."""

from __future__ import annotations

import platform

from .. import API_VERSION, __version__
from ..errors import UsageError

DEFAULT = API_VERSION              # "1.44"
MIN_VERSION = "1.24"
MAX_VERSION = "1.50"


def as_tuple(v: str) -> tuple[int, int]:
    major, _, minor = v.partition(".")
    return int(major), int(minor or 0)


def check(v: str) -> str:
    if as_tuple(v) < as_tuple(MIN_VERSION):
        raise UsageError(f"client version {v} is too old. Minimum supported API version is "
                         f"{MIN_VERSION}, please upgrade your client to a newer version")
    if as_tuple(v) > as_tuple(MAX_VERSION):
        raise UsageError(f"client version {v} is too new. Maximum supported API version is {MAX_VERSION}")
    return v


def ostype() -> str:
    return platform.system().lower()


def server_header() -> str:
    return f"jocker/{__version__} ({ostype()})"


def common_headers() -> dict[str, str]:
    """Server comes from the handler's version_string (send_response adds it)."""
    return {"Api-Version": DEFAULT, "Ostype": ostype(), "Docker-Experimental": "false"}
