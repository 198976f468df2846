"""What the rc.d script runs: host preparation at boot, starting the
containers whose restart policy says so (in dependency order), and stopping
everything in parallel at shutdown."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import JockerError, UsageError
from ..containers import health, lifecycle
from ..containers.model import Container, load_containers, read_runtime


def boot_order(containers: list[Container]) -> list[Container]:
    """Topological order over HostConfig.DependsOn (names); cycles are an error."""
    by_name = {c.name: c for c in containers}
    order: list[Container] = []
    state: dict[str, int] = {}

    def visit(c: Container, path: list[str]) -> None:
        if state.get(c.name) == 2:
            return
        if state.get(c.name) == 1:
            raise UsageError("dependency cycle between containers: " + " -> ".join(path + [c.name]))
        state[c.name] = 1
        for dep in c.host.get("DependsOn") or []:
            if dep in by_name:
                visit(by_name[dep], path + [c.name])
        state[c.name] = 2
        order.append(c)

    for c in sorted(containers, key=lambda c: c.name):
        visit(c, [])
    return order


def wants_boot(c: Container) -> bool:
    policy = (c.host.get("RestartPolicy") or {}).get("Name", "no")
    if policy == "always":
        return True
    return policy == "unless-stopped" and not c.state.get("UserStopped")


def boot(engine) -> list[tuple[str, str]]:
    """Start every container that should run at boot; returns (name, result)."""
    containers = load_containers(engine.layout, engine.load_state().datasets)
    lifecycle.reconcile_orphans(engine, containers)     # after a crash or power loss
    containers = containers.values()
    chosen = [c for c in containers if wants_boot(c) and not c.running]
    wanted = {c.name for c in chosen}
    by_name = {c.name: c for c in containers}
    results = []
    for c in boot_order(list(containers)):
        if c.name not in wanted:
            continue
        waited = wait_for_dependencies(engine, c, by_name)
        try:
            lifecycle.start(engine, c)
            results.append((c.name, "started" + "".join(f" ({w})" for w in waited)))
        except JockerError as e:
            results.append((c.name, f"failed: {e}"))
    return results


def wait_for_dependencies(engine, c: Container, by_name: dict[str, Container]) -> list[str]:
    """Before c starts, each running --depends-on container with a
    healthcheck must be healthy (compose's `service_healthy`), for at most
    the time its check needs to decide. One that is not delays c no
    further: c starts anyway (a host's boot must go on) and the reason is
    returned, for the boot's report."""
    notes = []
    for name in c.host.get("DependsOn") or []:
        dep = by_name.get(name)
        sched = health.schedule(dep.config.get("Healthcheck")) if dep else None
        if sched is None or not read_runtime(engine.layout, dep.id):
            continue
        try:
            lifecycle.wait_healthy(engine, dep, timeout=health.patience(sched))
        except JockerError as e:
            notes.append(f"{name} not healthy: {e}")
    return notes


def shutdown(engine, timeout: int | None = None) -> list[tuple[str, str]]:
    """Stop all running containers at once, each within its own timeout."""
    containers = [c for c in load_containers(engine.layout, engine.load_state().datasets).values()
                  if c.running]

    def stop_one(c: Container) -> tuple[str, str]:
        try:
            lifecycle.stop(engine, c, timeout, by_user=False)
            return c.name, "stopped"
        except JockerError as e:
            return c.name, f"failed: {e}"
    if not containers:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(containers))) as pool:
        return list(pool.map(stop_one, containers))


def prepare(engine) -> list[str]:
    done = engine.init_storage()
    engine.runtime.prepare_host()
    return done + [f"runtime {engine.runtime.name} prepared"]
