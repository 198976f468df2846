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
import stat
import tempfile
from typing import Callable

from ..containers.etcfiles import hosts_text, resolv_text
from ..containers.identity import UnknownUser, ids_for_chown, image_identity, read_image_file, user_id
from ..errors import BuildError
from ..containers.oneshot import OneShot, OneShotRequest
from ..runtime.spec import Mount
from .context import BuildContext, Source, download, is_url, resolve_in_root
from .dockerfile import Instruction
from .dockerignore import clean_path, compile_glob, has_magic
from .output import BuildOutput
from .steps import NOP, Plan, StageState, canonical, run_args, run_created_by, run_env, workdir_path

# (image id, layer id) of what COPY --from names; "" layer = an empty filesystem
FromResolver = Callable[[str], tuple[str, str]]


class RunFailed(BuildError):
    """A RUN exited non-zero: the classic builder's message, and the build
    exits 1 (current Docker)."""

    def __init__(self, argv: list[str], code: int):
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
        self.code = code
        # The build exits 1, as Docker's default builder (BuildKit) does since
        # Docker 23.0; the classic builder exited with the command's status.
        self.status = 1


class Actions:
    def __init__(self, engine, ctx: BuildContext, out: BuildOutput, *, network: str,
                 resolve_from: FromResolver, tmpdir: str):
        self.engine = engine
        self.ctx = ctx
        self.out = out
        self.network = network
        self.resolve_from = resolve_from
        self.tmpdir = tmpdir           # downloads; removed by the builder
        self.oneshot = OneShot(engine)

    # -- RUN -------------------------------------------------------------------
    def run_plan(self, st: StageState, instr: Instruction, build_args: dict[str, str]) -> Plan:
        argv = instr.command(st.shell())
        key_args, env_args = run_args(st, build_args)
        env = run_env(st, env_args)
        user = st.container.get("User") or ""
        workdir = st.container.get("WorkingDir") or "/"
        scripts = instr.script_files()

        def action(rootfs: str, cid: str) -> None:
            self._run(rootfs, cid, argv, env, user, workdir, scripts)
        return Plan(canonical(instr), run_created_by(argv, key_args), args=key_args, action=action)

    def _run(self, rootfs: str, cid: str, argv: list[str], env: list[str], user: str,
             workdir: str, scripts: dict[str, str] | None = None) -> None:
        def mounts(rundir: str) -> list[Mount]:
            return self._etc_mounts(rootfs, rundir, cid[:12]) + _script_mounts(rundir, scripts or {})
        req = OneShotRequest(id=cid, rootfs=rootfs, argv=argv, env=env, user=user, workdir=workdir,
                             network=self.network, mounts=mounts)
        self.out.begin_capture()
        try:
            code = self.oneshot.run(req, self.out.raw)
        except UnknownUser as e:    # USER names no one in the image: the build fails (1)
            raise BuildError(str(e)) from None
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
        """Kill the build container now (from a signal handler): the oneshot
        waits for it, and it runs in its own session, out of Ctrl-C's reach."""
        self.oneshot.kill()

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
            if instr.heredocs:
                sources, content = self._heredoc_sources(instr)
            else:
                sources, content = self._sources(instr) if add else self._local(instr.sources)
        except BuildError as e:              # Docker: "COPY failed: file not found in ..."
            raise BuildError(f"{instr.cmd} failed: {e.message}", hint=e.hint) from None
        kind = ("dir" if sources[0].kind == "dir" else "file") if len(sources) == 1 else "multi"

        def action(rootfs: str, cid: str) -> None:
            self.ctx.copy_into(sources, rootfs, instr.dest, workdir, chown_ids(rootfs, chown),
                               mode, unpack=add, instruction=instr.cmd)
        created_by = f"{NOP}{instr.cmd} {kind}:{content.removeprefix('sha256:')} in {instr.dest} "
        return Plan(canonical(instr), created_by, content=content, action=action)

    def _local(self, patterns: list[str]) -> tuple[list[Source], str]:
        sources = self.ctx.resolve_sources(patterns)
        return sources, self.ctx.content_hash(sources)

    def _heredoc_sources(self, instr: Instruction) -> tuple[list[Source], str]:
        """COPY/ADD <<EOF: each heredoc becomes a 0644 file named after its
        delimiter, after any context sources."""
        docs = {d.word: d for d in instr.heredocs}
        local = [s for s in instr.sources if s not in docs]
        sources, content = self._local(local) if local else ([], "")
        h = hashlib.sha256(content.encode())
        tmp = tempfile.mkdtemp(prefix="heredoc-", dir=self.tmpdir)
        for n, doc in enumerate(d for w, d in docs.items() if w in instr.sources):
            path = os.path.join(tmp, str(n))
            with open(path, "w", encoding="utf-8") as f:
                f.write(doc.text)
            os.chmod(path, 0o644)
            h.update(f"\0{doc.name}\0{doc.text}".encode())
            sources.append(Source.external(path, name=doc.name))
        return sources, "sha256:" + h.hexdigest()

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
                self.ctx.copy_into(sources, rootfs, instr.dest, workdir, owner, mode, keep_owner=True)
        created_by = f"{NOP}COPY multi:{content[7:]} in {instr.dest} "
        return Plan(canonical(instr), created_by, content=content, action=action)

    # -- WORKDIR ---------------------------------------------------------------
    @staticmethod
    def workdir_plan(st: StageState, instr: Instruction) -> Plan:
        """WORKDIR sets the config and creates the directory (0755) when the
        image lacks it, owned by the stage's USER as Docker's default builder
        (BuildKit) does since Docker 23.0; when it exists the step stays
        metadata-only (`skip_if`), costing no layer."""
        path = workdir_path(st, instr.args[0])
        user = st.container.get("User") or ""

        def apply(cfg: dict) -> None:
            cfg.setdefault("config", {})["WorkingDir"] = path

        def action(rootfs: str, cid: str) -> None:
            try:
                who = image_identity(rootfs, user) if user else None
            except UnknownUser as e:
                raise BuildError(str(e)) from None
            make_dirs(rootfs, path, (who.uid, who.gid) if who else None)
        return Plan(canonical(instr), f"{NOP}WORKDIR {path}", apply=apply, action=action,
                    skip_if=lambda root: os.path.isdir(resolve_in_root(root, path)))


# -- helpers ---------------------------------------------------------------------

def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_dirs(rootfs: str, path: str, owner: tuple[int, int] | None = None) -> None:
    """mkdir -p inside rootfs, resolving the image's symlinks chroot-style;
    the directories it creates get `owner` when given."""
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
        if owner is not None:
            os.lchown(d, *owner)


def _script_mounts(rundir: str, scripts: dict[str, str]) -> list[Mount]:
    """RUN <<EOF scripts starting with #!: host files mounted read-only at
    their container path (buildkit's /dev/pipes/<name>, mode 0755)."""
    mounts = []
    for n, (target, text) in enumerate(sorted(scripts.items())):
        host = os.path.join(rundir, f"heredoc-{n}")
        with open(host, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(host, 0o755)
        mounts.append(Mount(host, target, readonly=True))
    return mounts


def chown_ids(rootfs: str, spec: str) -> tuple[int, int] | None:
    """--chown=user[:group] as numbers, names looked up in the image's own
    /etc/passwd and /etc/group (identity.ids_for_chown has the rules)."""
    if not spec:
        return None
    passwd = read_image_file(rootfs, "/etc/passwd")
    group = read_image_file(rootfs, "/etc/group")
    user, _, grp = spec.partition(":")
    try:
        uid = user_id(user, passwd)
    except UnknownUser:
        raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                         f"can't find uid for user {user}: no such user: {user}") from None
    try:
        return ids_for_chown(spec, passwd, group) if grp else (uid, uid)
    except UnknownUser:
        raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                         f"can't find gid for group {grp}: no such group: {grp}") from None


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
