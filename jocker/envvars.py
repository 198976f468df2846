"""Environment lists (`KEY=value` entries, Docker's `Env`): the one place
they are merged."""

from __future__ import annotations

from .errors import UsageError


def env_dict(*lists: list[str]) -> dict[str, str]:
    """KEY=value lists merged left to right (later wins); a malformed entry
    is refused."""
    env: dict[str, str] = {}
    for entries in lists:
        for entry in entries:
            key, sep, value = entry.partition("=")
            if not sep or not key:
                raise UsageError(f"environment entry {entry!r} must be KEY=VALUE")
            if "\0" in entry:
                raise UsageError(f"environment entry {key!r} contains a NUL byte")
            env[key] = value
    return env


def merge_env(*lists: list[str]) -> list[str]:
    """The same merge, as a KEY=value list in first-seen order."""
    return [f"{k}={v}" for k, v in env_dict(*lists).items()]
