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

    def events(self, *, since: str | None = None, until: str | None = None,
               filters: dict[str, list[str]] | None = None, follow: bool = True,
               should_stop=lambda: False):
        """`GET /events`: Docker-shaped event dicts, oldest first, as an
        iterator. since/until as Docker takes them (Unix seconds, RFC 3339,
        or a duration before now: jocker.times.parse_point); filters
        Docker's (jocker/events/query.py). Past events in the window first,
        then live ones until until passes or should_stop() is true (checked
        about ten times a second). Arguments are checked before it returns."""
        from ..events.query import EventFilter, events
        from ..times import parse_point
        lo = parse_point(since, "--since") if since not in (None, "") else None
        hi = parse_point(until, "--until") if until not in (None, "") else None
        EventFilter(filters)                      # bad filters fail now, not mid-stream
        return events(self.engine.layout.events_path, since=lo, until=hi, filters=filters,
                      follow=follow, should_stop=should_stop)

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

    def compose(self, argv: list[str], environ: dict) -> int:
        """`jocker compose ARGS`: run the installed Compose tool against this
        engine's API server (its stdio is the caller's); its exit status."""
        import shutil
        from ..dockerapi.compose import plan
        cmd, env = plan(self.engine.config, argv, environ, shutil.which)
        proc = self.engine.runner.spawn(cmd, env=env)
        while True:
            try:
                code = proc.wait()
                return 128 - code if code < 0 else code      # killed by a signal: 128+N, as a shell
            except KeyboardInterrupt:       # Compose got the ^C too and winds down
                continue

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
