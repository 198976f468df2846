"""The engine itself: version, info, disk usage, prune, storage set-up, the
boot/shutdown hooks and the host readiness check."""

from __future__ import annotations

from ..filters import prune_label_filters


class System:
    def __init__(self, engine):
        self.engine = engine

    def version(self) -> dict:
        """`GET /version`."""
        from ..system.info import version_info
        return version_info()

    def info(self) -> dict:
        """`GET /info`."""
        from ..system.info import engine_info
        return engine_info(self.engine, self.engine.load_state())

    def df(self) -> dict:
        """`GET /system/df`, from ZFS's own accounting: {"summary": [per type:
        TotalCount, Active, Size, Reclaimable], "images": [...]} (bytes)."""
        from ..system.usage import usage
        return usage(self.engine, self.engine.load_state())

    def prune(self, *, all: bool = False, volumes: bool = False,
              filters: dict[str, list[str]] | None = None) -> dict:
        """Stopped containers, unused images (and anonymous volumes), then the
        leftovers of interrupted work: ContainersDeleted, VolumesDeleted (with
        volumes), ImagesDeleted (report lines), LeftoversRemoved, SpaceReclaimed."""
        from ..system.usage import prune
        flt = prune_label_filters(filters)
        self.engine.load_state()
        return prune(self.engine, all_unused=all, volumes=volumes, label_filters=flt)

    def warm_supervisors(self) -> None:
        """A fork-server of supervisors that lives as long as this process
        (`jocker serve`): every start it serves forks a warm supervisor."""
        import os
        from ..containers import forkserver
        idle = self.engine.config.int("forkserver_idle")
        forkserver.ensure_started(self.engine.layout.rundir, idle, parent=os.getpid())

    def init(self) -> list[str]:
        """Create what is missing (pool, root dataset, children, and as root the
        API socket's group); what was created."""
        import os
        from ..host.group import ensure_group
        created = self.engine.init_storage()
        group = self.engine.config.api_group
        if os.geteuid() == 0 and ensure_group(self.engine.runner, group):
            created.append(f"created group {group} (for the API socket of jocker serve)")
        return created

    @property
    def storage(self) -> dict:
        return {"Root": self.engine.layout.root, "Mountpoint": self.engine.layout.mountpoint}

    def prepare(self) -> list[str]:
        """rc.d start: storage, devfs ruleset, runtime."""
        from ..system.boot import prepare
        return prepare(self.engine)

    def boot(self) -> list[tuple[str, str]]:
        """Start containers whose restart policy says so: (name, result)."""
        from ..system.boot import boot
        return boot(self.engine)

    def shutdown(self, timeout: int | None = None) -> list[tuple[str, str]]:
        """Stop all running containers in parallel: (name, result)."""
        from ..system.boot import shutdown
        return shutdown(self.engine, timeout)

    def check(self) -> list[dict]:
        """Host readiness: [{Name, Status, Ok, Required, Detail, Fix}]."""
        from ..system import hostcheck
        probes = hostcheck.gather(self.engine)
        hostcheck.gather_networks(self.engine, probes)
        return [{"Name": r.name, "Status": r.status, "Ok": r.ok, "Required": r.required,
                 "Detail": r.detail, "Fix": r.fix}
                for r in hostcheck.check_host(probes)]

    @staticmethod
    def require_ready(results: list[dict], hint: str | None = None) -> None:
        """Raise HostNotReady when a required check failed."""
        from ..system.hostcheck import HostNotReady
        failed = [r for r in results if r["Required"] and r["Ok"] is False]
        if failed:
            raise HostNotReady(f"{len(failed)} required check(s) failed: "
                               + ", ".join(r["Name"] for r in failed), hint=hint)
