"""`jocker update` / `POST /containers/{id}/update`: a container's restart
policy and resource limits, changed in its stored configuration (so the next
start uses them) and, when it runs, live where the runtime can:

* the restart policy: at once (the supervisor is told; it decides restarts);
* --memory, --cpus (or --cpu-quota/--cpu-period), --pids-limit: a FreeBSD
  jail's rctl rules are swapped at once (JailDriver.update_limits); the Linux
  development runtime enforces no limits at all, so there they are recorded
  and a warning says so;
* --memory-swap and --cpu-shares: recorded only (rctl has no equivalent the
  engine uses yet).
"""

from __future__ import annotations

from ..errors import JockerError
from ..storage import props as P
from .model import Container, read_runtime

LIVE_LIMITS = ("Memory", "NanoCpus", "CpuQuota", "CpuPeriod", "PidsLimit")
NOT_ENFORCED = ("resource limits are rctl rules on FreeBSD jails; the Linux development runtime "
                "records them but does not enforce them")


def update(engine, c: Container, req) -> list[str]:
    """Apply req (engine_api.requests.UpdateRequest) to c; Docker's Warnings."""
    from . import lifecycle
    limits = any(getattr(req, name) is not None for name in LIVE_LIMITS)
    with engine.lock.held():
        c = lifecycle.get(engine, c.id)           # the stored config as it is now
        host = req.apply(c.host)
        c.spec = dict(c.spec, HostConfig=host)
        rt = read_runtime(engine.layout, c.id)
        spec = lifecycle.runtime_spec(engine, c)
        # Live first: limits the runtime refuses (racct off, a value rctl
        # cannot express) must not be stored, or the next start fails too.
        if rt and limits and engine.runtime.updates_limits_live:
            engine.runtime.update_limits(spec)
        engine.zfs.set_props(c.dataset, P.encode_json("container.config", c.spec))
        # Told under the lock too: two updates racing would otherwise leave
        # the supervisor with one policy and the store with the other.
        told = None
        if rt:
            try:
                lifecycle.tell(engine, c, rt, {"op": "update",
                                               "restart": host.get("RestartPolicy") or {"Name": "no"},
                                               "limits": dict(vars(spec.limits))})
            except JockerError as e:        # stored all the same: the next start has it
                told = e
    from ..events.produce import container as event
    event(engine, c, "update")
    warnings = []
    if limits and not engine.runtime.updates_limits_live:
        warnings.append(NOT_ENFORCED)
    if told is not None:
        warnings.append(f"the running container did not take the restart policy now ({told}); "
                        "it applies from its next start")
    return warnings
