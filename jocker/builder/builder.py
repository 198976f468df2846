"""`jocker build`: Docker's classic builder on ZFS layers.

Each stage starts from its FROM image. A metadata step (ENV, CMD, LABEL...)
makes a new image config on the same layer: a new snapshot, no data copied.
RUN, COPY and ADD work in a build container: a writable clone of the parent
layer (`begin_layer`), changed by the step, then compared with its origin
(treediff). No change: the clone is dropped and the step is metadata-only, so
`RUN true` costs no layer. Otherwise the clone is sealed as a new layer whose
diff ID is the digest of the changes.

Every step's image carries its cache key (cache.py), so a rebuild finds its
steps in the State read once at the start: a cached step costs no host
command. Crash safety comes from the store: a layer keeps `jocker:txn=<pid>`
until an image holds it, and the garbage collector (run here first when the
State shows leftovers) removes what a killed build left.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from ..ids import new_id
from ..errors import BuildError, JockerError, NotFound, UsageError
from ..images import layertar, treediff
from ..images.imageconfig import DEFAULT_PATH, derive, new_config
from ..images.leases import Lease
from ..images.remove import collect_garbage
from ..images.state import Image, State, default_tag, txn_alive
from ..containers.oneshot import collect_stale
from ..engine_api.requests import BuildOptions
from .actions import Actions, new_tmpdir
from .cache import CacheIndex, step_key
from .context import BuildContext
from .dockerfile import Dockerfile, Instruction, Stage, count_steps, expand, parse, parse_instruction
from .output import BuildOutput, context_size, human_size
from .steps import PROXY_ARGS, Plan, StageState, content_layer, declare_args, meta_plan

log = logging.getLogger("jocker.builder")

SKIP = layertar.BUILD_SKIP          # the runtime's mount points, never layer content
EMPTY_DIFF = layertar.EMPTY_ANCHOR
NETWORKS = ("default", "bridge", "host", "none")    # RUN steps; default: the default network's NAT


@dataclass
class BuildResult:
    image: Image
    tags: list[str]
    steps: int = 0            # steps that made or reused an image
    cached: int = 0           # of which cache hits
    bytes_hashed: int = 0     # context bytes read to compute content hashes


def build(engine, opts: BuildOptions, *, stdin: BinaryIO | None = None,
          stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
          interrupt_on: tuple[int, ...] = ()) -> BuildResult:
    """Build opts.context; prints Docker's build output on stdout.

    interrupt_on: signals (the CLI's SIGINT/SIGTERM/SIGHUP) that stop a running
    build container and unwind like Ctrl-C, so the step's layer is aborted.
    """
    out = BuildOutput(stdout, quiet=opts.quiet, errors=stderr)
    builder = Builder(engine, opts, out)
    with _interrupts(builder, interrupt_on):
        return builder.run(stdin)


@contextmanager
def _interrupts(builder: "Builder", signals: tuple[int, ...]):
    def handler(signum, frame):
        if builder.actions is not None:
            builder.actions.stop_running()
        raise KeyboardInterrupt
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Builder:
    def __init__(self, engine, opts: BuildOptions, out: BuildOutput):
        self.engine = engine
        self.store = engine.store
        self.opts = opts
        self.out = out
        self.state: State | None = None
        self.cache: CacheIndex | None = None
        self.results: dict[int, StageState] = {}    # finished stages by index
        self.consumed: set[str] = set()             # build args some ARG declared
        self.since: dict[str, float] = {}            # layer -> (lower bound of) @layer creation
        self.unreleased: set[str] = set()            # our layers no image holds yet
        self.empty_layer_id = ""
        self.step_no = self.total = 0
        self.steps = self.cached = 0
        self.current = 0                             # index of the stage being built
        self.actions: Actions | None = None
        self.lease: Lease | None = None

    # -- the build -----------------------------------------------------------
    def run(self, stdin: BinaryIO | None) -> BuildResult:
        opts = self.opts
        tags = [default_tag(t) for t in opts.tags]          # refuse bad tags before any work
        if opts.network not in NETWORKS:
            raise UsageError(f"network {opts.network!r} is not available for builds",
                             hint="use --network default, host or none")
        self.state = self._load_state()
        self.cache = CacheIndex(self.state, enabled=not opts.no_cache)
        with Lease(self.engine.layout.rundir) as self.lease, \
                BuildContext.open(opts.context, stdin=stdin, tmpdir=self.engine.layout.tmpdir,
                                  cache_path=self._hash_cache(opts.context)) as ctx:
            df = self._parse(ctx)
            tmp = new_tmpdir(self.engine.layout.rundir)
            try:
                self.actions = Actions(self.engine, ctx, self.out, network=opts.network,
                                       resolve_from=lambda ref: self._resolve_from(df, ref), tmpdir=tmp)
                final = self._run_stages(df)
                image = self._finish(final, df, tags)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                self._drop_unheld()
            return BuildResult(image, tags, self.steps, self.cached, ctx.bytes_hashed)

    def _load_state(self) -> State:
        """One read of everything; collect a killed build's leftovers first if any."""
        st = self.engine.load_state()
        dead = [layer for layer in st.layers.values() if layer.txn and not txn_alive(layer.txn)]
        if dead or st.stray_snapshots:
            try:
                collect_garbage(self.store)
            except JockerError as e:    # e.g. still busy: a later build or prune retries
                log.warning("cannot remove the leftovers of an interrupted build yet: %s", e)
            st = self.store.load()
        collect_stale(self.engine)
        return st

    def _hash_cache(self, spec: str) -> str | None:
        """A persistent file-hash cache per context directory: unchanged files
        are not read again on the next build."""
        if spec == "-" or not os.path.isdir(spec):
            return None
        name = hashlib.sha256(os.path.realpath(spec).encode()).hexdigest()[:32]
        return os.path.join(self.engine.layout.mountpoint, ".cache", "build", name + ".json")

    def _parse(self, ctx: BuildContext) -> Dockerfile:
        text = self.opts.dockerfile_text
        if text is None:
            text = ctx.dockerfile_text(self.opts.dockerfile)
        stdin_file = (len(text.encode()),) if self.opts.context == "-" and not os.listdir(ctx.root) else ()
        size = context_size(ctx.root, ctx.ignore, stdin_file)
        self.out.line(f"Sending build context to jocker  {human_size(size)}")
        df = parse(text, filename=os.path.basename(self.opts.dockerfile) or "Dockerfile",
                   build_args=self.opts.build_args)
        for warning in df.warnings:
            self.out.line(warning)
        return df

    def _run_stages(self, df: Dockerfile) -> StageState:
        stages = df.target_stages(self.opts.target)
        if self.opts.labels:
            # Docker's classic builder turns each --label into a LABEL step of
            # the last stage, counted and printed like the others.
            last = stages[-1]
            extra = [Instruction("LABEL", [k, v], original=f'LABEL "{k}"="{v}"',
                                 filename=df.filename, lineno=last.lineno)
                     for k, v in sorted(self.opts.labels.items())]
            stages = stages[:-1] + [dataclasses.replace(last, instructions=last.instructions + extra)]
        self.total = count_steps(stages, df.meta_args)
        self.consumed.update(df.global_args)
        for instr in df.meta_args:        # global ARGs: printed, applied at parse time
            self._step_line(instr)
        for stage in stages:
            self.current = stage.index
            st = self._from(df, stage)
            for instr in stage.instructions:
                self._step_line(instr)
                self._step(df, st, instr)
            self.results[stage.index] = st
        final = self.results[stages[-1].index]
        if final.image is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        return final

    def _step_line(self, instr: Instruction) -> None:
        self.step_no += 1
        self.out.line(f"Step {self.step_no}/{self.total} : {instr.original}")

    # -- FROM and ONBUILD ----------------------------------------------------
    def _from(self, df: Dockerfile, stage: Stage) -> StageState:
        self._step_line(stage.from_instruction)
        st = StageState(stage.index, None, new_config(diff_ids=[]), "")
        earlier = next((s for s in df.stages[:stage.index] if s.name == stage.base.lower()), None)
        if earlier is not None:
            base = self.results[earlier.index].image
        elif stage.base == "scratch":
            base = None
        else:
            base = self._resolve_image(stage.base, "FROM")
        if base is None:
            self.out.line(" ---> ")          # Docker prints an empty ID for scratch
            # BuildKit (Docker >= 23.0) gives a scratch stage WorkingDir "/".
            st.config["config"]["WorkingDir"] = "/"
            return st
        st.adopt(base)
        _default_path(st)
        triggers = list(st.container.get("OnBuild") or [])
        if not triggers:
            self.out.line(f" ---> {base.short}")
            return st
        # The triggers run now and are not inherited by this build's images.
        st.config = copy.deepcopy(st.config)
        st.config["config"]["OnBuild"] = None
        self.out.line(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        for text in triggers:
            instr = parse_instruction(text, df.filename, stage.lineno, escape=df.escape)
            if instr.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
                raise instr.error(f"{instr.cmd} isn't allowed as an ONBUILD trigger")
            self._step(df, st, instr)
        return st

    def _resolve_image(self, ref: str, what: str) -> Image:
        try:
            img = self.state.resolve(ref)
            self.lease.add(img.id)
            return img
        except NotFound:
            raise BuildError(f"{what} {ref}: no such image", hint="jocker build does not pull: "
                             "import or pull the image first") from None

    def _resolve_from(self, df: Dockerfile, ref: str) -> tuple[str, str]:
        """COPY --from=<stage name|index|image>: (image id, layer)."""
        stage = df.stage_by_name_or_index(ref)
        if stage is not None:
            if stage.index >= self.current or stage.index not in self.results:
                raise BuildError(f"invalid from flag value {ref}: refers to the current or a later stage")
            done = self.results[stage.index]
            return done.image_id, done.layer
        img = self._resolve_image(ref, "COPY --from")
        return img.id, content_layer(img)

    # -- one step ------------------------------------------------------------
    def _step(self, df: Dockerfile, st: StageState, instr: Instruction) -> None:
        instr = expand(instr, st.expansion_env())
        if instr.cmd == "ARG":
            self.consumed.update(declare_args(st, instr, self.opts.build_args, df.global_args))
        plan = self._plan(st, instr)
        key = step_key(st.image_id, plan.text, plan.content, plan.args)
        if instr.cmd == "CMD":
            st.cmd_set = True
        self.steps += 1
        hit = self.cache.lookup(st.image_id, key)
        if hit is not None:
            self.cached += 1
            self.out.line(" ---> Using cache")
            self.out.line(f" ---> {hit.short}")
            st.adopt(hit)
            return
        cid = new_id()
        self.out.line(f" ---> Running in {cid[:12]}")
        if plan.action is not None and not self._skip(st, plan):
            img = self._fs_step(st, plan, key, cid)
        else:
            img = self._commit(st, plan, key)
        self.cache.add(img)
        st.adopt(img)
        self.out.line(f" ---> {img.short}")
        self.out.line(f"Removing intermediate container {cid[:12]}")

    def _plan(self, st: StageState, instr: Instruction) -> Plan:
        if instr.cmd == "RUN":
            return self.actions.run_plan(st, instr, self.opts.build_args)
        if instr.cmd in ("COPY", "ADD"):
            return self.actions.copy_plan(st, instr)
        if instr.cmd == "WORKDIR":
            return self.actions.workdir_plan(st, instr)
        return meta_plan(st, instr)

    def _skip(self, st: StageState, plan: Plan) -> bool:
        """A step that has nothing to write given the parent's files (WORKDIR)."""
        if plan.skip_if is None or not st.layer:
            return False
        with self.store.layer_mounted(st.layer) as root:
            return plan.skip_if(root)

    def _fs_step(self, st: StageState, plan: Plan, key: str, cid: str) -> Image:
        """Run the step in a clone of the parent layer; keep the clone only if it changed."""
        pending = self.store.begin_layer(st.layer)
        try:
            plan.action(pending.path, cid)
            changes = self._diff(st.layer, pending.path)
            if not changes:                 # identical consecutive layers are not duplicated
                self.store.abort_layer(pending)
                return self._commit(st, plan, key)
            diff_id = layertar.seal_diff_id(self.store.zfs, pending, changes)
            layer = self._shared_layer(st.layer, diff_id)
            if layer:                       # the same change on the same parent exists: share it
                self.store.abort_layer(pending)
            else:
                self.since[pending.id] = time.time()     # a little before @layer's creation
                layer = self.store.finish_layer(pending, diff_id)
                self.unreleased.add(layer)
            return self._commit(st, plan, key, layer, diff_id)
        except BaseException:
            self.store.abort_layer(pending)  # also when sealed: no image holds it yet
            self.unreleased.discard(pending.id)
            raise

    def _diff(self, parent: str, root: str) -> list[treediff.Change]:
        if not parent:
            with tempfile.TemporaryDirectory(prefix="empty-", dir=self.actions.tmpdir) as empty:
                return treediff.diff_trees(empty, root, 0.0, SKIP)
        since = self._since(parent)
        with self.store.layer_mounted(parent) as base:
            return treediff.diff_trees(base, root, since, SKIP)

    def _since(self, layer: str) -> float:
        """When the layer's @layer snapshot was taken (treediff's racy-file bound)."""
        if layer in self.since:
            return self.since[layer]
        snap = self.engine.layout.layer_snapshot(layer)
        ds = self.state.datasets.get(snap) or self.engine.zfs.get(snap)
        return float(ds.get("creation", 0))

    def _shared_layer(self, parent: str, diff_id: str) -> str:
        for layer in self.state.layers.values():
            if (layer.complete and not layer.txn and layer.images and layer.parent == parent
                    and layer.diff_id == diff_id):
                return layer.id
        return ""

    def _commit(self, st: StageState, plan: Plan, key: str, layer: str = "",
                diff_id: str = "") -> Image:
        """The step's image: the parent's config changed by the step, on `layer`
        (a new one) or the parent's own (metadata-only)."""
        cfg = derive(st.config, parent=st.image_id)
        if plan.apply is not None:
            plan.apply(cfg)
        entry = {"created": cfg["created"], "created_by": plan.created_by}
        if diff_id:
            cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
        else:
            entry["empty_layer"] = True
        cfg.setdefault("history", []).append(entry)
        anchor = layer or st.layer or self._empty_layer()
        img = self.store.create_image(anchor, cfg, cache_key=key, state=self.state)
        self.lease.add(img.id)      # prune and rmi keep it while we build on it
        if anchor in self.unreleased:
            self.store.release_layer(anchor)
            self.unreleased.discard(anchor)
        return img

    def _empty_layer(self) -> str:
        """Images of a scratch stage with no files yet need a snapshot to live on:
        an empty layer, shared by all such images."""
        if self.empty_layer_id:
            return self.empty_layer_id
        for layer in self.state.layers.values():
            if layer.complete and not layer.parent and not layer.txn and layer.diff_id == EMPTY_DIFF:
                self.empty_layer_id = layer.id
                return layer.id
        pending = self.store.begin_layer("")
        try:
            self.store.finish_layer(pending, EMPTY_DIFF)
        except BaseException:
            self.store.abort_layer(pending)
            raise
        self.unreleased.add(pending.id)
        self.empty_layer_id = pending.id
        return pending.id

    def _drop_unheld(self) -> None:
        """After a failure: sealed layers no image holds go now, not at the next GC."""
        for layer in list(self.unreleased):
            try:
                self.store.zfs.destroy(self.engine.layout.layer(layer), recursive=True)
            except Exception:      # the garbage collector will get it
                pass
            self.unreleased.discard(layer)

    # -- the end -------------------------------------------------------------
    def _finish(self, final: StageState, df: Dockerfile, tags: list[str]) -> Image:
        img = final.image
        unused = sorted(set(self.opts.build_args) - self.consumed - PROXY_ARGS)
        if unused:
            self.out.line(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        self.out.line(f"Successfully built {img.short}")
        if tags:
            img = self.store.create_image(img.layer, img.config, tags)   # an existing ID: adds tags
            for tag in tags:
                self.out.line(f"Successfully tagged {tag}")
        if self.out.quiet:
            self.out.stream.write((img.id + "\n").encode())
            self.out.stream.flush()
        return img


def _default_path(st: StageState) -> None:
    """Docker's classic builder gives every stage a PATH when its base has
    none (imported images, FreeBSD's base.txz), so `ENV PATH=$PATH:/x` works."""
    env = (st.config.get("config") or {}).get("Env") or []
    if any(e.startswith("PATH=") for e in env):
        return
    st.config = copy.deepcopy(st.config)
    st.config.setdefault("config", {})["Env"] = [DEFAULT_PATH, *env]
