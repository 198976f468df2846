"""The group that may use the API socket (`api_group`, default jocker):
`jocker system init` creates it when missing, with the host's own tool."""

from __future__ import annotations

import grp
import os

from ..names import check_object_name


def group_add_argv(system: str, name: str) -> list[str]:
    """Pure: the command that adds a system group on this OS."""
    if system == "FreeBSD":
        return ["pw", "groupadd", "-n", name]
    return ["groupadd", "--system", name]


def ensure_group(runner, name: str, system: str | None = None) -> bool:
    """Create the group if missing; True when it was created."""
    if not name:
        return False
    check_object_name(name, "api_group")
    try:
        grp.getgrnam(name)
        return False
    except KeyError:
        pass
    runner.run(group_add_argv(system or os.uname().sysname, name))
    return True
