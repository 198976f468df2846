"""Containers: create, run, start, attach, stop, restart, kill, remove,
update, prune, list, inspect, logs, wait, rename, exec, top, cp, diff,
export, commit.

Every verb takes a container's name, full ID or unique ID prefix."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from ..containers import lifecycle
from ..containers.model import Container, load_containers, resolve
from ..errors import Conflict, JockerError, UsageError
from ..filters import PS_FILTERS, pairs
from .requests import CreateRequest, UpdateRequest
from .streams import Streams


class Containers:
    def __init__(self, engine):
        self.engine = engine

    # -- lookup ----------------------------------------------------------------
    def get(self, ref: str) -> Container:
        return resolve(load_containers(self.engine.layout, self.engine.load_state().datasets), ref)

    def _each(self, refs: list[str], action) -> list[tuple[str, JockerError | None]]:
        """Act on each ref; the store is read once for all of them (acting on
        one container changes no other). Returns (ref, error or None)."""
        containers = load_containers(self.engine.layout, self.engine.load_state().datasets)
        out = []
        for ref in refs:
            try:
                action(resolve(containers, ref))
                out.append((ref, None))
            except JockerError as e:
                out.append((ref, e))
        return out

    # -- create and run --------------------------------------------------------
    def create(self, req: CreateRequest) -> str:
        """`POST /containers/create`: the new container's ID."""
        from ..containers.create import create_container
        return create_container(self.engine, req).id

    def run(self, req: CreateRequest, *, detach: bool, streams: Streams | None = None,
            sig_proxy: bool = True, detach_keys: str | None = None) -> tuple[str, int | None]:
        """create + start (+ attach): (container ID, its exit status when
        attached; None when detached, or when the caller left with the detach keys)."""
        from ..containers.create import create_container
        from ..containers.detachkeys import for_client
        keys = for_client(detach_keys)            # refused before anything is made
        eng = self.engine
        # The store read starts first, the supervisor's start while it runs
        # and while the clone is being made.
        eng.prefetch_state()
        try:
            early = lifecycle.prespawn_supervisor(eng)
        except BaseException:
            eng.drop_prefetch()
            raise
        try:
            c = create_container(eng, req)
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        finally:
            eng.drop_prefetch()                   # not taken: create failed before its read
        try:
            started = lifecycle.start(eng, c, attach=not detach, prespawned=early)
        except JockerError:
            if req.host.AutoRemove:
                try:
                    lifecycle.remove(eng, lifecycle.get(eng, c.id), force=True, volumes=True)
                except JockerError:
                    pass
            raise
        if detach:
            return c.id, None
        from ..containers.attach import relay
        code = relay(started.conn, streams, stdin_open=req.config.OpenStdin, tty=req.config.Tty,
                     sig_proxy=sig_proxy, detach_keys=keys)
        if req.host.AutoRemove and code is not None:
            started.supervisor.wait()
        return c.id, code

    # -- lifecycle -------------------------------------------------------------
    def start(self, ref: str) -> bool:
        """False when it was already running (Docker's 304)."""
        return lifecycle.start(self.engine, self.get(ref)) is not None

    def start_attached(self, ref: str, streams: Streams, *, interactive: bool = False,
                       detach_keys: str | None = None) -> int | None:
        """`start -a [-i]`: start, relay, return the exit status (None: detached)."""
        from ..containers.detachkeys import for_client
        keys = for_client(detach_keys)
        c = self.get(ref)
        started = lifecycle.start(self.engine, c, attach=True)
        if started is None:
            raise Conflict(f"container {c.name} is already running",
                           hint="use jocker attach or jocker logs -f to follow its output")
        from ..containers.attach import relay
        return relay(started.conn, streams, stdin_open=interactive and bool(c.config.get("OpenStdin")),
                     tty=bool(c.config.get("Tty")), detach_keys=keys)

    def attach(self, ref: str, streams: Streams, *, stdin: bool = True, sig_proxy: bool = True,
               detach_keys: str | None = None) -> int | None:
        """`attach`: join a running container's streams (its stdin too when it
        was made with -i and stdin is True). Its exit status, or None when the
        caller detached with the keys (the container goes on)."""
        from ..containers.attach import attach_running, relay
        from ..containers.detachkeys import for_client
        keys = for_client(detach_keys)
        c = self.get(ref)
        conn = attach_running(self.engine, c)
        return relay(conn, streams, stdin_open=stdin and bool(c.config.get("OpenStdin")),
                     tty=bool(c.config.get("Tty")), sig_proxy=sig_proxy, detach_keys=keys)

    def start_many(self, refs: list[str]):
        return self._each(refs, lambda c: lifecycle.start(self.engine, c))

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        lifecycle.stop(self.engine, self.get(ref), timeout, sig=signal)

    def stop_many(self, refs: list[str], timeout: int | None = None, signal: str | None = None):
        return self._each(refs, lambda c: lifecycle.stop(self.engine, c, timeout, sig=signal))

    def restart(self, ref: str, timeout: int | None = None) -> None:
        self._restart(self.get(ref), timeout)

    def restart_many(self, refs: list[str], timeout: int | None = None):
        return self._each(refs, lambda c: self._restart(c, timeout))

    def _restart(self, c: Container, timeout: int | None) -> None:
        lifecycle.stop(self.engine, c, timeout)
        lifecycle.start(self.engine, lifecycle.get(self.engine, c.id))   # re-read: it stopped
        lifecycle.restarted(self.engine, c)

    def pause(self, ref: str) -> None:
        lifecycle.pause(self.engine, self.get(ref))

    def unpause(self, ref: str) -> None:
        lifecycle.unpause(self.engine, self.get(ref))

    def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        lifecycle.kill(self.engine, self.get(ref), signal)

    def kill_many(self, refs: list[str], signal: str = "SIGKILL"):
        return self._each(refs, lambda c: lifecycle.kill(self.engine, c, signal))

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        lifecycle.remove(self.engine, self.get(ref), force=force, volumes=volumes)

    def remove_many(self, refs: list[str], *, force: bool = False, volumes: bool = False):
        return self._each(refs, lambda c: lifecycle.remove(self.engine, c, force=force, volumes=volumes))

    def wait(self, ref: str) -> int:
        return lifecycle.wait(self.engine, self.get(ref))

    def health(self, ref: str) -> dict | None:
        """Docker's `State.Health` ({Status, FailingStreak, Log}) or None when
        the container has no healthcheck (or has not run with it)."""
        from ..containers.views import health_of
        return health_of(self.engine, self.get(ref))

    def probe_health(self, ref: str) -> dict | None:
        """Run the container's healthcheck probe now, off its schedule; the
        State.Health before that probe's result (None: no healthcheck)."""
        return lifecycle.probe_health(self.engine, self.get(ref))

    def wait_healthy(self, ref: str, timeout: float | None = None) -> dict:
        """Block until the container is healthy (compose's `depends_on:
        condition: service_healthy`); its State.Health. Raises Conflict (no
        healthcheck) or JockerError (unhealthy, not running, timeout)."""
        return lifecycle.wait_healthy(self.engine, self.get(ref), timeout)

    def update(self, ref: str, req: UpdateRequest) -> list[str]:
        """`POST /containers/{id}/update`: restart policy and limits, stored
        and applied live where the runtime can; Docker's Warnings."""
        from ..containers.update import update
        return update(self.engine, self.get(ref), req)

    def update_many(self, refs: list[str], req: UpdateRequest):
        warnings: list[str] = []
        results = self._each(refs, lambda c: warnings.extend(
            w for w in self.update(c.id, req) if w not in warnings))
        return results, warnings

    def rename(self, ref: str, new_name: str) -> None:
        lifecycle.rename(self.engine, self.get(ref), new_name)

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        """`POST /containers/prune`: stopped containers (filters: label,
        label!, until), as {"ContainersDeleted": [...], "SpaceReclaimed": bytes}."""
        from ..containers.logs import parse_since
        from ..containers.prune import prune_containers
        from ..filters import prune_label_filters
        flt = pairs(filters, ("label", "label!", "until"))
        untils = [v for k, v in flt if k == "until"]
        if len(untils) > 1:
            raise UsageError("more than one until filter specified")
        until = parse_since(untils[0], what="until") if untils else 0.0
        labels = prune_label_filters({k: v for k, v in (filters or {}).items() if k != "until"})
        removed, freed = prune_containers(self.engine, labels, until)
        return {"ContainersDeleted": removed, "SpaceReclaimed": freed}

    # -- views -----------------------------------------------------------------
    def list(self, *, all: bool = False, filters: dict[str, list[str]] | None = None,
             limit: int = -1) -> list[dict]:
        """`GET /containers/json`. Never writes: a container whose supervisor
        died without recording the end of its run shows exit status 255 from
        what is read (model.Container.exit_code); only `system boot`, `start`
        and `rm` record it, under the lock (a write here raced the
        supervisor's own last write and lost real exit codes)."""
        from ..containers.views import container_list
        flt = pairs(filters, PS_FILTERS)
        eng = self.engine
        return container_list(eng, eng.load_state(), all_=all, filters=flt, last=limit)

    def inspect(self, ref: str) -> dict:
        from ..containers.views import inspect_container
        st = self.engine.load_state()
        c = resolve(load_containers(self.engine.layout, st.datasets), ref)
        return inspect_container(self.engine, st, c)

    def logs(self, ref: str, *, tail: int | None = None, since: str | None = None,
             follow: bool = False) -> Iterator[dict]:
        """Log entries, oldest first: {"stream": "stdout"|"stderr", "log": text,
        "time": RFC 3339}. With follow, until the container stops."""
        from ..containers.logs import follow as follow_logs, parse_since, read_logs
        from ..containers.model import read_runtime
        eng = self.engine
        c = self.get(ref)
        path = lifecycle.log_path(eng, c)
        entries, offset = read_logs(path, tail=tail, since=parse_since(since))
        yield from entries
        if follow:
            yield from follow_logs(path, offset, lambda: bool(read_runtime(eng.layout, c.id)))

    # -- inside ----------------------------------------------------------------
    def exec(self, ref: str, argv: list[str], streams: Streams | None, *, user: str = "",
             workdir: str = "", env: list[str] = (), tty: bool = False, interactive: bool = False,
             detach: bool = False, detach_keys: str | None = None) -> int | None:
        """Run argv in the running container; its exit status (0 when
        detached; None when the caller left a terminal session with the
        detach keys, the command still running)."""
        from ..containers.detachkeys import for_client
        from ..containers.inside import exec_process
        keys = for_client(detach_keys)
        return exec_process(self.engine, self.get(ref), list(argv), streams, user=user, workdir=workdir,
                            env=list(env), tty=tty, interactive=interactive, detach=detach,
                            detach_keys=keys)

    def top(self, ref: str) -> dict:
        """`GET /containers/{id}/top`: {"Titles": [...], "Processes": [[...]]}."""
        from ..containers.inside import top
        titles, rows = top(self.engine, self.get(ref))
        return {"Titles": titles, "Processes": rows}

    def stats(self, ref: str, previous: dict | None = None) -> dict:
        """`GET /containers/{id}/stats`: the Engine API's stats object from a
        fresh sample and, when given, the previous raw sample ("raw" holds
        this one, to pass back next time)."""
        from ..containers import stats
        from ..images.imageconfig import now_rfc3339
        c = self.get(ref)
        now = stats.sample(self.engine, c)
        out = stats.docker_stats(c, now, previous, now_rfc3339(),
                                 (previous or {}).get("at", "0001-01-01T00:00:00Z"))
        out["raw"] = dict(now, at=out["read"])
        return out

    def copy(self, src: str, dest: str) -> None:
        """`cp`: CONTAINER:PATH -> host path, or host path -> CONTAINER:PATH."""
        from ..containers.inside import copy
        copy(self.engine, src, dest)

    def changes(self, ref: str) -> list[dict]:
        """`GET /containers/{id}/changes`: [{"Path", "Kind": 0 changed, 1 added, 2 deleted}]."""
        from ..containers.inside import diff
        return [{"Path": ch.path, "Kind": {"C": 0, "A": 1, "D": 2}[ch.kind]}
                for ch in diff(self.engine, self.get(ref))]

    def export(self, ref: str, out: BinaryIO) -> int:
        """`GET /containers/{id}/export`: the filesystem as a tar on out."""
        from ..containers.inside import export
        return export(self.engine, self.get(ref), out)

    def export_to_file(self, ref: str, path: str) -> None:
        """`export -o`: the file appears only complete."""
        from ..atomic import write_stream_atomic
        c = self.get(ref)
        write_stream_atomic(path, lambda f: self.export(c.id, f))

    def commit(self, ref: str, reference: str | None = None, *, message: str = "", author: str = "",
               changes: list[str] = (), pause: bool = True) -> str:
        """`POST /commit`: the new image's ID. changes are Dockerfile lines."""
        from ..containers.inside import commit
        from ..images.changes import parse_changes
        c = self.get(ref)
        return commit(self.engine, c, reference, message=message, author=author,
                      changes=parse_changes(list(changes), c.config), pause=pause)

