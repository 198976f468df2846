"""Docker's --memory/--cpus/--pids-limit as rctl(8) rules (pure).

--memory is `memoryuse:sigkill`: Docker kills a container that passes its
memory limit (the cgroup OOM killer). `memoryuse:deny` would not: rctl.8
(BUGS) says a deny on memoryuse makes the kernel page the jail out, which
may thrash the whole machine. memoryuse is resident memory, like the cgroup
limit; a vmemoryuse cap would break runtimes that reserve large address
space (Go, JVM).
"""

from __future__ import annotations

from .. import rundir as RD


def _usage(msg: str):
    from ..errors import UsageError
    return UsageError(msg)


def rctl_rules(name: str, limits) -> list[str]:
    rules = []
    if limits.memory is not None:
        if int(limits.memory) <= 0:
            raise _usage(f"memory limit {limits.memory} must be positive")
        rules.append(f"jail:{name}:memoryuse:sigkill={int(limits.memory)}")
    if limits.cpus is not None:
        pct = int(limits.cpus * 100 + 1e-9)   # 1e-9: 0.29*100 is 28.999...
        if pct <= 0:
            raise _usage(f"--cpus {limits.cpus} is too small (minimum 0.01)")
        rules.append(f"jail:{name}:pcpu:deny={pct}")
    if limits.pids is not None:
        if int(limits.pids) <= 0:
            raise _usage(f"pids limit {limits.pids} must be positive")
        rules.append(f"jail:{name}:maxproc:deny={int(limits.pids)}")
    return rules


def rctl_add_commands(name: str, limits) -> list[list[str]]:
    # one rule per call: whether rctl -a takes several rules is [U]
    return [["rctl", "-a", rule] for rule in rctl_rules(name, limits)]


RESOURCES = ("memoryuse", "pcpu", "maxproc")     # the ones rctl_rules writes


def rctl_update_commands(name: str, recorded: list[str], limits) -> tuple[list[list[str]], list[str]]:
    """`jocker update` on a running jail: (commands, the rules in force after
    them). Per resource whose rule changes: `rctl -r jail:NAME:RESOURCE` when
    jocker added one (rctl.8: a filter naming the resource removes only its
    rules; whether the kernel then leaves the other resources' rules alone is
    [U] until a FreeBSD host runs tests/freebsd), then `rctl -a` the new rule.
    A resource whose rule is unchanged gets no command."""
    wanted = rctl_rules(name, limits)
    have = {r.split(":")[2]: r for r in recorded if r.count(":") >= 3}
    want = {r.split(":")[2]: r for r in wanted}
    cmds = []
    for resource in RESOURCES:
        old, new = have.get(resource), want.get(resource)
        if old == new:
            continue
        if old:
            cmds.append(["rctl", "-r", f"jail:{name}:{resource}"])
        if new:
            cmds.append(["rctl", "-a", new])
    return cmds, wanted


def rctl_remove_command(name: str) -> list[str]:
    """Removes every rule of the jail; run only when jocker added some (the
    kernel answers ESRCH for a jail with none: usr.bin/rctl/rctl.c)."""
    return ["rctl", "-r", f"jail:{name}"]


def racct_command() -> list[str]:
    return ["sysctl", "-n", "kern.racct.enable"]


def rctl_record_path(rundir: str) -> str:
    """Where the driver lists the rules it added, so stop removes only those."""
    return rundir.rstrip("/") + "/" + RD.RCTL_RULES
