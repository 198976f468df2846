"""devfs rulesets for jails: what jocker's rulesets contain and how to reach it.

Pure: argv lists and parsing. Rulesets are global and a running jail's
devfs follows its ruleset live: devfs.8 says rules added to a ruleset apply
to nodes created afterwards, so emptying the set a running container uses
(`delset`, then re-adding) leaves every node created in between unhidden in
that container for good. So jocker never empties a live ruleset: it reads
it (`devfs rule -s N show`, printed by sbin/devfs/rule.c `rulespec_outfp` as
"NUM [path GLOB] ACTION..."), adds the rules that are missing under fixed
rule numbers (the hiding `include 1` has the lowest number, so it is added
first) and deletes only rules of its own that are no longer wanted. A
per-container ruleset (--device) is a fresh number and is deleted with
`delset` only once its jail is gone.
"""

from __future__ import annotations

import re

STOCK_RULESETS = (1, 2, 3)     # devfsrules_hide_all, _unhide_basic, _unhide_login
DEVICE_RE = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+/*-]*$")
ADMIN_HEADER_RE = re.compile(r"^\s*\[\s*[A-Za-z0-9_]+\s*=\s*([0-9]+)\s*\]")


def _usage(msg: str, hint: str | None = None):
    from ..errors import UsageError
    return UsageError(msg, hint=hint)


def validate_devices(devices: list[str]) -> list[str]:
    """`--device` globs relative to /dev ('bpf*', '/dev/tun0')."""
    out = []
    for raw in devices:
        glob = raw[len("/dev/"):] if raw.startswith("/dev/") else raw
        if not DEVICE_RE.match(glob) or ".." in glob.split("/"):
            raise _usage(f"invalid device {raw!r}: expected a /dev name or glob like 'bpf*'")
        if glob not in out:
            out.append(glob)
    return out


def wanted_rules(devices: list[str] | tuple = (), vnet: bool = False) -> list[tuple[int, tuple[str, ...]]]:
    """(rule number, words) of a jocker ruleset: hide all, unhide the basics, extras.

    Like stock ruleset 4 minus fuse and zfs; with vnet, pf as in ruleset 5.
    """
    rules = [(100 * (i + 1), ("include", str(n))) for i, n in enumerate(STOCK_RULESETS)]
    if vnet:
        rules.append((400, ("path", "pf", "unhide")))
    rules += [(1000 + 10 * i, ("path", d, "unhide"))
              for i, d in enumerate(validate_devices(list(devices)))]
    return rules


def _rule(number: int) -> list[str]:
    return ["devfs", "rule", "-s", str(number)]


def add_command(number: int, rulenum: int, words: tuple[str, ...]) -> list[str]:
    return _rule(number) + ["add", str(rulenum), *words]


def del_command(number: int, rulenum: int) -> list[str]:
    return _rule(number) + ["del", str(rulenum)]


def ruleset_commands(number: int, devices: list[str] | tuple = (), vnet: bool = False) -> list[list[str]]:
    """The adds that build ruleset N from empty (no delset: see the module doc)."""
    return [add_command(number, n, w) for n, w in wanted_rules(devices, vnet)]


def parse_show(text: str) -> dict[int, tuple[str, ...]]:
    """`devfs rule -s N show` output -> {rule number: words}."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0].isdigit():
            out[int(words[0])] = tuple(words[1:])
    return out


def sync_commands(number: int, wanted: list[tuple[int, tuple[str, ...]]],
                  current: dict[int, tuple[str, ...]]) -> list[list[str]]:
    """Adds for missing rules, then deletes of unwanted ones; never a delset.

    A rule number holding different words is someone else's edit: refused
    rather than overwritten (replacing it would need a delete first, a
    moment in which the ruleset hides less).
    """
    want = dict(wanted)
    for n, words in wanted:
        if n in current and current[n] != words:
            from ..errors import JockerError
            raise JockerError(f"devfs ruleset {number} rule {n} is `{' '.join(current[n])}`, "
                         f"not jocker's `{' '.join(words)}`",
                         hint="choose another devfs_ruleset in jocker.conf, or "
                              f"`devfs rule -s {number} delset` when no container runs")
    cmds = [add_command(number, n, w) for n, w in wanted if n not in current]
    cmds += [del_command(number, n) for n in sorted(current) if n not in want]
    return cmds


def show_command(number: int) -> list[str]:
    return _rule(number) + ["show"]


def delete_command(number: int) -> list[str]:
    return _rule(number) + ["delset"]


def showsets_command() -> list[str]:
    return ["devfs", "rule", "showsets"]


def parse_showsets(text: str) -> set[int]:
    """`devfs rule showsets` prints ruleset numbers, one per line [U format]."""
    return {int(tok) for tok in text.split() if tok.isdigit()}


def applyset_command(rootfs: str, number: int) -> list[str]:
    # jail(8) mounts through rc.subr's devfs_mount_jail, which applies the
    # set (command.c IP_MOUNT_DEVFS); applying again is harmless [U].
    return ["devfs", "-m", rootfs.rstrip("/") + "/dev", "rule", "-s", str(number), "applyset"]


def admin_rulesets(devfs_rules_text: str | None) -> set[int]:
    """Ruleset numbers an admin defines in /etc/devfs.rules (`[name=N]` headers, devfs.rules(5))."""
    out = set()
    for line in (devfs_rules_text or "").splitlines():
        m = ADMIN_HEADER_RE.match(line)
        if m:
            out.add(int(m.group(1)))
    return out


def device_ruleset_candidates(container_id: str, lo: int, hi: int) -> list[int]:
    """Every number of the range, starting at a slot derived from the id.

    Deterministic, so a container usually gets the same number each start;
    the driver skips numbers that `showsets` reports as taken.
    """
    size = hi - lo + 1
    start = int(container_id[:12], 16) % size
    return [lo + (start + i) % size for i in range(size)]


def pick_device_ruleset(container_id: str, lo: int, hi: int, in_use: set[int]) -> int:
    for n in device_ruleset_candidates(container_id, lo, hi):
        if n not in in_use:
            return n
    raise _usage(f"no free devfs ruleset in {lo}-{hi} for a container with --device",
                 hint="widen device_rulesets in jocker.conf")
