"""The steps that write files: RUN, COPY, ADD and WORKDIR.

Each returns a `Plan` whose `action(rootfs, container_id)` is run by the
builder on a mounted writable clone of the parent layer. Everything needed for
the cache key (source content hashes, ADD downloads) is computed when the plan
is made; the copying itself happens only on a cache miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import signal
import stat
import tempfile
from typing import Callable

from ..containers.etcfiles import hosts_text, resolv_text
from ..errors import BuildError
from ..runtime.oneshot import run_process
from ..runtime.spec import ContainerSpec, Mount
from .context import BuildContext, Source, download, is_url, resolve_in_root
from .dockerfile import Instruction
from .dockerignore import clean_path, compile_glob, has_magic
from .output import BuildOutput
from .steps import NOP, Plan, StageState, canonical, run_args, run_created_by, run_env, workdir_path

# (image id, layer id) of what COPY --from names; "" layer = an empty filesystem
FromResolver = Callable[[str], tuple[str, str]]


class RunFailed(BuildError):
    """A RUN exited non-zero: Docker's message, and (as the classic builder)
    the build exits with the command's own status."""

    def __init__(self, argv: list[str], code: int):
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
        self.code = code
        self.status = code if 0 < code < 256 else 1   # the build exits with it


class Actions:
    def __init__(self, engine, ctx: BuildContext, out: BuildOutput, *, network: str,
                 resolve_from: FromResolver, tmpdir: str):
        self.engine = engine
        self.ctx = ctx
        self.out = out
        self.network = network
        self.resolve_from = resolve_from
        self.tmpdir = tmpdir           # downloads; removed by the builder
        self.running: ContainerSpec | None = None

    # -- RUN -------------------------------------------------------------------
    def run_plan(self, st: StageState, instr: Instruction, build_args: dict[str, str]) -> Plan:
        argv = instr.command(st.shell())
        key_args, env_args = run_args(st, build_args)
        env = run_env(st, env_args)
        user = st.container.get("User") or ""
        workdir = st.container.get("WorkingDir") or "/"

        def action(rootfs: str, cid: str) -> None:
            self._run(rootfs, cid, argv, env, user, workdir)
        return Plan(canonical(instr), run_created_by(argv, key_args), args=key_args, action=action)

    def _run(self, rootfs: str, cid: str, argv: list[str], env: list[str], user: str,
             workdir: str) -> None:
        # The pid in the name lets the next build remove what a killed one left.
        rundir = os.path.join(self.engine.layout.rundir, f"build-{os.getpid()}-{cid[:12]}")
        os.makedirs(rundir, exist_ok=True)
        try:
            spec = ContainerSpec(id=cid, name=f"build-{cid[:12]}", rootfs=rootfs, rundir=rundir,
                                 argv=argv, hostname=cid[:12], env=env, user=user, workdir=workdir,
                                 network=self.network, mounts=self._etc_mounts(rootfs, rundir, cid[:12]))
            self.out.begin_capture()
            self.running = spec
            code = run_process(self.engine, spec, self.out.raw)
        finally:
            self.running = None
            shutil.rmtree(rundir, ignore_errors=True)
        if code != 0:
            self.out.end_line()
            self.out.show_captured()
            raise RunFailed(argv, code)

    def _etc_mounts(self, rootfs: str, rundir: str, hostname: str) -> list[Mount]:
        # Only where bind mounts of single files are safe: the handbook wants
        # copies on FreeBSD (nullfs files break pkg's renames).
        if not self.engine.runtime.binds_single_files:
            return []
        return etc_mounts(rootfs, rundir, hostname)

    def stop_running(self) -> None:
        """Kill the build container now (from a signal handler): run_process
        waits for it, and it runs in its own session, out of Ctrl-C's reach."""
        spec = self.running
        if spec is not None:
            try:
                self.engine.runtime.signal_all(spec, signal.SIGKILL, None)
            except Exception:      # already gone: nothing to stop
                pass

    # -- COPY / ADD ------------------------------------------------------------
    def copy_plan(self, st: StageState, instr: Instruction) -> Plan:
        """COPY, and ADD (URLs downloaded, local archives unpacked)."""
        workdir = st.container.get("WorkingDir") or "/"
        chown, chmod = instr.flags.get("chown") or "", instr.flags.get("chmod") or ""
        mode = int(chmod, 8) if chmod else None
        add = instr.cmd == "ADD"
        if "from" in instr.flags:
            return self._copy_from_plan(instr, workdir, chown, mode)
        try:
            sources, content = self._sources(instr) if add else self._local(instr.sources)
        except BuildError as e:              # Docker: "COPY failed: file not found in ..."
            raise BuildError(f"{instr.cmd} failed: {e.message}", hint=e.hint) from None
        kind = ("dir" if sources[0].kind == "dir" else "file") if len(sources) == 1 else "multi"

        def action(rootfs: str, cid: str) -> None:
            self.ctx.copy_into(sources, rootfs, instr.dest, workdir, chown_ids(rootfs, chown),
                               mode, unpack=add)
        created_by = f"{NOP}{instr.cmd} {kind}:{content.removeprefix('sha256:')} in {instr.dest} "
        return Plan(canonical(instr), created_by, content=content, action=action)

    def _local(self, patterns: list[str]) -> tuple[list[Source], str]:
        sources = self.ctx.resolve_sources(patterns)
        return sources, self.ctx.content_hash(sources)

    def _sources(self, instr: Instruction) -> tuple[list[Source], str]:
        """ADD's sources: context files, then the downloaded URLs (fetched now:
        their content is part of the cache key, as in Docker)."""
        local = [s for s in instr.sources if not is_url(s)]
        sources, content = self._local(local) if local else ([], "")
        h = hashlib.sha256(content.encode())
        for url in instr.remote_sources:
            path = download(url, tempfile.mkdtemp(prefix="add-", dir=self.tmpdir))
            h.update(f"\0{url}\0{os.path.basename(path)}\0{_file_sha256(path)}".encode())
            sources.append(Source.external(path))
        return sources, "sha256:" + h.hexdigest()

    def _copy_from_plan(self, instr: Instruction, workdir: str, chown: str, mode: int | None) -> Plan:
        image_id, layer = self.resolve_from(instr.flags["from"])
        # The source image's ID fixes its content: hash it with the paths, not the files.
        content = "sha256:" + hashlib.sha256(json.dumps([image_id, instr.sources]).encode()).hexdigest()

        def action(rootfs: str, cid: str) -> None:
            owner = chown_ids(rootfs, chown)
            if not layer:
                raise BuildError(f"COPY --from={instr.flags['from']}: that image has no files")
            with self.engine.store.layer_mounted(layer) as root:
                sources = image_sources(root, instr.sources)
                self.ctx.copy_into(sources, rootfs, instr.dest, workdir, owner, mode)
        created_by = f"{NOP}COPY multi:{content[7:]} in {instr.dest} "
        return Plan(canonical(instr), created_by, content=content, action=action)

    # -- WORKDIR ---------------------------------------------------------------
    @staticmethod
    def workdir_plan(st: StageState, instr: Instruction) -> Plan:
        """WORKDIR sets the config and, like Docker's classic builder, creates the
        directory (root-owned, 0755) when the image lacks it; when it exists the
        step stays metadata-only (`skip_if`), costing no layer."""
        path = workdir_path(st, instr.args[0])

        def apply(cfg: dict) -> None:
            cfg.setdefault("config", {})["WorkingDir"] = path
        return Plan(canonical(instr), f"{NOP}WORKDIR {path}", apply=apply,
                    action=lambda rootfs, cid: make_dirs(rootfs, path),
                    skip_if=lambda root: os.path.isdir(resolve_in_root(root, path)))


# -- helpers ---------------------------------------------------------------------

def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_dirs(rootfs: str, path: str) -> None:
    """mkdir -p inside rootfs, resolving the image's symlinks chroot-style."""
    host = resolve_in_root(rootfs, path)
    missing = []
    cur = host
    while cur != rootfs and not os.path.lexists(cur):
        missing.append(cur)
        cur = os.path.dirname(cur)
    if not os.path.isdir(cur):
        raise BuildError(f"cannot create the WORKDIR {path}: a part of it is not a directory")
    for d in reversed(missing):
        os.mkdir(d)
        os.chmod(d, 0o755)


def _read_image_file(rootfs: str, path: str) -> list[str]:
    host = resolve_in_root(rootfs, path)
    try:
        fd = os.open(host, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
    except OSError:
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def _lookup(rootfs: str, path: str, name: str) -> list[str] | None:
    for line in _read_image_file(rootfs, path):
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            return fields
    return None


def chown_ids(rootfs: str, spec: str) -> tuple[int, int] | None:
    """--chown=user[:group] as numbers, names looked up in the image's own
    /etc/passwd and /etc/group. A user without a group uses the same number
    as the group (Docker's documented rule)."""
    if not spec:
        return None
    user, _, group = spec.partition(":")
    if user.isdigit():
        uid = int(user)
    else:
        entry = _lookup(rootfs, "/etc/passwd", user)
        if entry is None or not entry[2].isdigit():
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find uid for user {user}: no such user: {user}")
        uid = int(entry[2])
    if not group:
        return uid, uid
    if group.isdigit():
        return uid, int(group)
    entry = _lookup(rootfs, "/etc/group", group)
    if entry is None or not entry[2].isdigit():
        raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                         f"can't find gid for group {group}: no such group: {group}")
    return uid, int(entry[2])


def _image_glob(root: str, rel: str) -> list[str]:
    """Wildcards in an image: each segment matched in its directory."""
    cands = ["/"]
    for seg in (s for s in rel.split("/") if s):
        nxt = []
        for cand in cands:
            if has_magic(seg):
                try:
                    names = sorted(os.listdir(resolve_in_root(root, cand)))
                except OSError:
                    continue
                rx = compile_glob(seg)
                nxt += [posixpath.join(cand, n) for n in names if rx.fullmatch(n)]
            elif os.path.lexists(resolve_in_root(root, posixpath.join(cand, seg), follow_last=False)):
                nxt.append(posixpath.join(cand, seg))
        cands = nxt
    return cands


def image_sources(root: str, patterns: list[str]) -> list[Source]:
    """COPY --from sources: paths in another image, symlinks resolved inside it."""
    out: list[Source] = []
    for pattern in patterns:
        rel = clean_path("/" + pattern)
        paths = _image_glob(root, rel) if has_magic(rel) else [rel]
        if not paths:
            raise BuildError(f"COPY failed: no source files were specified: {pattern} matches nothing")
        for path in paths:
            host = resolve_in_root(root, path)
            try:
                st = os.stat(host)
            except OSError:
                raise BuildError(f"COPY failed: stat {path}: file does not exist") from None
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                raise BuildError(f"COPY failed: {path} is not a regular file or directory")
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            out.append(Source(posixpath.basename(path) or ".", host, kind, None))
    return out


def etc_mounts(rootfs: str, rundir: str, hostname: str) -> list[Mount]:
    """Docker's build containers get /etc/hosts, /etc/resolv.conf and
    /etc/hostname mounted, not written, so they never end up in a layer. Only
    over regular files the image already has: creating a mount point would
    change the layer, and a symlink could point anywhere."""
    texts = {"hosts": hosts_text(hostname), "resolv.conf": resolv_text(), "hostname": hostname + "\n"}
    mounts = []
    etc = os.path.join(rootfs, "etc")
    if os.path.islink(etc) or not os.path.isdir(etc):
        return mounts
    for name, text in texts.items():
        try:
            st = os.lstat(os.path.join(etc, name))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            src = os.path.join(rundir, name)
            with open(src, "w") as f:
                f.write(text)
            mounts.append(Mount(src, f"/etc/{name}", readonly=True))
    return mounts


def new_tmpdir(rundir: str) -> str:
    """A private scratch directory (downloads, empty diff bases); named after our
    pid so that the next build can remove it if this one is killed."""
    os.makedirs(rundir, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"build-{os.getpid()}-tmp", dir=rundir)
