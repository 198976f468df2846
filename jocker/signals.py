"""Signal names, the one place they are read: Docker's `--signal`,
`--stop-signal` and STOPSIGNAL values, host numbers, and names for commands
that take them (pkill). Small on purpose: the supervisor imports it."""

from __future__ import annotations

import signal as _signal

from .errors import UsageError

# Every name some OS has (a Dockerfile may name a FreeBSD-only signal on Linux).
NAMES = frozenset((
    "HUP INT QUIT ILL TRAP ABRT IOT EMT FPE KILL BUS SEGV SYS PIPE ALRM TERM URG STOP "
    "TSTP CONT CHLD CLD TTIN TTOU IO POLL XCPU XFSZ VTALRM PROF WINCH INFO USR1 USR2 "
    "THR LIBRT PWR").split())


def is_signal(text: str) -> bool:
    """A STOPSIGNAL value Docker would accept: a positive number or a name (SIG optional)."""
    if text.isdecimal():
        return text.isascii() and len(text) < 10 and int(text) > 0
    import re                     # here: the supervisor never needs it
    name = text.upper().removeprefix("SIG")
    return name in NAMES or re.fullmatch(r"RTMIN(\+\d+)?|RTMAX(-\d+)?", name) is not None


def check_signal(name: str) -> str:
    """A signal this host knows, as `SIGNAME` (or the number as given)."""
    n = str(name).upper()
    if not n.startswith("SIG") and not n.isdigit():
        n = "SIG" + n
    if n.isdigit() and 0 < int(n) < _signal.NSIG:
        return n
    if not n.isdigit() and n.isalnum() and isinstance(getattr(_signal, n, None), _signal.Signals):
        return n
    raise UsageError(f"invalid signal {name!r}", hint="use a name such as SIGTERM or a number from 1 "
                     f"to {_signal.NSIG - 1}")


def signum(name: str | int, default: int = _signal.SIGTERM) -> int:
    """The host's number for a name (SIG optional) or a number; default when unknown."""
    n = str(name).upper()
    if n.isdigit():
        return int(n)
    return int(getattr(_signal, n if n.startswith("SIG") else "SIG" + n, default))


def short_name(num: int) -> str:
    """`TERM` for 15: names travel between OSes, numbers differ; the number
    when the host has no name for it."""
    try:
        return _signal.Signals(num).name[3:]
    except ValueError:
        return str(int(num))
