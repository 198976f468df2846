"""Working inside a container: exec, top, cp, diff and commit."""

from __future__ import annotations

import os
import shutil
import subprocess

from ..engine_api.streams import Streams
from ..errors import Conflict, NotFound, UsageError
from ..images import layertar, treediff
from ..images.imageconfig import derive
from ..times import now_rfc3339
from .lifecycle import runtime_spec
from .model import Container

# Mount points, and the files jocker writes into every container (Docker
# bind-mounts those, so they never show in diff or commit either).
SKIP = ("/dev", "/proc", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def _require_running(c: Container) -> None:
    if not c.running:
        raise Conflict(f"container {c.id} is not running")


def exec_process(engine, c: Container, argv: list[str], streams: Streams | None, *, user: str = "",
                 workdir: str = "", env: list[str] = (), tty: bool = False, interactive: bool = False,
                 detach: bool = False, detach_keys: bytes | None = None) -> int | None:
    """Run argv in the running container, its stdio connected to the caller's
    streams (a stream without a file descriptor is fed through a pipe).
    Returns its exit status, 0 when detached (-d), None when the caller left
    a terminal session with the detach keys (the command goes on)."""
    _require_running(c)
    if not argv:
        raise UsageError("exec needs a command")
    spec = runtime_spec(engine, c)
    cmd = engine.runtime.exec_command(spec, list(argv), user=user, workdir=workdir, env=list(env),
                                      tty=tty, main_pid=c.runtime.get("main_pid"))
    from ..events.produce import exec_event
    exec_id = os.urandom(32).hex()
    exec_event(engine, c, "exec_create", exec_id, argv)
    kw: dict = {"env": cmd.env or None}
    if detach or streams is None:
        kw.update(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  start_new_session=True)
        engine.runner.spawn(cmd.argv, **kw)
        exec_event(engine, c, "exec_start", exec_id, argv)
        return 0
    if tty and interactive and streams.stdin is not None and os.isatty(streams.stdin):
        from .ptyexec import run_on_pty
        return run_on_pty(engine.runner, cmd.argv, cmd.env or None, streams, detach_keys or b"\x10\x11")
    out, err = _fd(streams.stdout), _fd(streams.err)
    kw.update(stdin=streams.stdin if interactive and streams.stdin is not None else subprocess.DEVNULL,
              stdout=out if out is not None else subprocess.PIPE,
              stderr=err if err is not None else subprocess.PIPE)
    proc = engine.runner.spawn(cmd.argv, **kw)
    exec_event(engine, c, "exec_start", exec_id, argv)
    _pump(proc, streams)
    code = proc.wait()
    code = 128 - code if code < 0 else code
    exec_event(engine, c, "exec_die", exec_id, exitCode=code)
    return code


def _fd(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _pump(proc, streams: Streams) -> None:
    """Copy piped output to streams that have no file descriptor."""
    import selectors
    sel = selectors.DefaultSelector()
    for pipe, dest in ((proc.stdout, streams.stdout), (proc.stderr, streams.err)):
        if pipe is not None:
            sel.register(pipe, selectors.EVENT_READ, dest)
    while sel.get_map():
        for key, _ in sel.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            key.data.write(data)
            key.data.flush()


def top(engine, c: Container, ps_args: list[str] = ()) -> tuple[list[str], list[list[str]]]:
    """`docker top`: the host's ps over the container's processes."""
    _require_running(c)
    spec = runtime_spec(engine, c)
    pids = engine.runtime.pids(spec, c.runtime.get("main_pid"))
    if not pids:
        return [], []
    # `start`, not `stime`: FreeBSD's ps has no stime keyword (bin/ps/keyword.c)
    # and procps has both. The driver selects the processes (ps -J on FreeBSD).
    fields = ["user", "pid", "ppid", "start", "time", "args"]
    res = engine.runner.run(["ps", "-o", ",".join(fields)] + engine.runtime.ps_selector(spec, pids))
    lines = res.stdout.splitlines()
    headers = ["UID", "PID", "PPID", "STIME", "TIME", "CMD"]
    rows = [line.split(None, len(fields) - 1) for line in lines[1:] if line.strip()]
    return headers, rows


def _in_root(root: str, path: str) -> str:
    """A container path as a host path, resolving symlinks as a chroot would."""
    from ..rootfs import resolve_in_root
    return resolve_in_root(root, path)


def copy(engine, src: str, dest: str) -> None:
    """`jocker cp`: CONTAINER:PATH -> host path, or host path -> CONTAINER:PATH.
    Out of the container, symlinks are copied as links, never followed."""
    from .lifecycle import get
    if ":" in src and not src.startswith(("/", ".")):
        name, _, cpath = src.partition(":")
        c = get(engine, name)
        source = _in_root(engine.layout.container_rootfs(c.id), cpath)
        if not os.path.lexists(source):
            raise NotFound(f"Could not find the file {cpath} in container {name}")
        _copy_path(source, dest)
    elif ":" in dest and not dest.startswith(("/", ".")):
        name, _, cpath = dest.partition(":")
        c = get(engine, name)
        if not os.path.lexists(src):
            raise NotFound(f"no such file or directory: {src}")
        _copy_in(engine.layout.container_rootfs(c.id), src, cpath)
    else:
        raise UsageError("copying between two local paths is not supported: one side must be CONTAINER:PATH")


def _copy_in(rootfs: str, src: str, cpath: str) -> None:
    """Host -> container, with the build's writer: every path is resolved
    inside the root as a chroot would, and files are written without following
    symlinks, so a link in the container can never redirect a write onto the
    host. Docker's rules: into an existing directory, else to the new name."""
    from ..builder.context import BuildContext, Source
    target = cpath if cpath.startswith("/") else "/" + cpath
    if os.path.isdir(_in_root(rootfs, target)):
        target = target.rstrip("/") + "/" + os.path.basename(src.rstrip("/"))
    parent = os.path.dirname(target.rstrip("/")) or "/"
    if not os.path.isdir(_in_root(rootfs, parent)):
        raise NotFound(f"destination directory {parent} does not exist in the container")
    ctx = BuildContext(os.path.dirname(os.path.abspath(src)) or "/")
    ctx.copy_into([Source.external(os.path.abspath(src))], rootfs, target)


def _copy_path(source: str, dest: str) -> None:
    """Docker's rules: into an existing directory, else to the new name."""
    if os.path.isdir(dest) and not os.path.islink(dest):
        dest = os.path.join(dest, os.path.basename(source.rstrip("/")))
    parent = os.path.dirname(dest.rstrip("/")) or "."
    if not os.path.isdir(parent):
        raise NotFound(f"destination directory {parent} does not exist")
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest, follow_symlinks=False)


def _origin_layer(engine, st, c: Container):
    img = st.images.get(c.image_id[7:])
    if img is None:
        raise NotFound(f"the image of container {c.name} ({c.image_id[:19]}) no longer exists")
    return img


def diff(engine, c: Container) -> list[treediff.Change]:
    st = engine.load_state()
    img = _origin_layer(engine, st, c)
    since = st.datasets.get(img.snapshot, {}).get("creation", "0")
    with engine.store.layer_mounted(img.layer) as base:
        return treediff.diff_trees(base, engine.layout.container_rootfs(c.id), float(since), SKIP)


def export(engine, c: Container, out) -> int:
    """`export`: the container's filesystem as one tar on out (bytes written),
    by the layer writer (no link followed, hard links kept, BSD file flags as
    PAX records); volumes and bind mounts are not part of it, as in Docker."""
    from ..images.layertar import tree_changes, write_layer
    from ..events.produce import container as event
    root = engine.layout.container_rootfs(c.id)
    skip = ("/dev", "/proc") + tuple(m["Destination"] for m in c.spec.get("Mounts", []))
    written = write_layer(root, tree_changes(None, root, skip=skip), out)[1]
    event(engine, c, "export")
    return written


def commit(engine, c: Container, ref: str | None, *, message: str = "", author: str = "",
           changes: dict | None = None, pause: bool = True) -> str:
    """The container's changes become one new layer on top of its image."""
    from ..images.state import default_tag
    tags = [default_tag(ref)] if ref else []
    st = engine.load_state()
    img = _origin_layer(engine, st, c)
    since = float(st.datasets.get(img.snapshot, {}).get("creation", "0"))
    rootfs = engine.layout.container_rootfs(c.id)
    with _paused(engine, c, pause):
        image_id = _commit_paused(engine, c, img, since, rootfs, tags, message, author, changes)
    from ..events import produce as events
    events.container(engine, c, "commit", comment=message, imageID=image_id, imageRef=tags[0] if tags else "")
    for tag in tags:
        events.image(engine, image_id, "tag", tag)
    return image_id


def _paused(engine, c: Container, pause: bool):
    """Freeze the container's processes (Docker's commit --pause, the default)
    so nothing changes between the diff and the copy."""
    from contextlib import contextmanager
    import signal

    @contextmanager
    def frozen():
        if not (pause and c.running):
            yield
            return
        spec = runtime_spec(engine, c)
        engine.runtime.signal_all(spec, signal.SIGSTOP, c.runtime.get("main_pid"))
        try:
            yield
        finally:
            engine.runtime.signal_all(spec, signal.SIGCONT, c.runtime.get("main_pid"))
    return frozen()


def _commit_paused(engine, c, img, since, rootfs, tags, message, author, changes) -> str:
    with engine.store.layer_mounted(img.layer) as base:
        delta = treediff.diff_trees(base, rootfs, since, SKIP)
    config = derive(img.config, parent=img.id)
    if changes:
        config.setdefault("config", {}).update(changes)
    if author:
        config["author"] = author
    hist = {"created": now_rfc3339(), "created_by": " ".join([c.spec["Path"], *c.spec.get("Args", [])])}
    if message:
        hist["comment"] = message
    if not delta:
        hist["empty_layer"] = True
        config["history"] = list(config.get("history", [])) + [hist]
        return engine.store.create_image(img.layer, config, tags).id
    pending = engine.store.begin_layer(img.layer)
    try:
        treediff.apply(rootfs, pending.path, delta)
        diff_id = layertar.seal_diff_id(engine.store.zfs, pending, delta)
        layer = engine.store.finish_layer(pending, diff_id)
    except BaseException:
        engine.store.abort_layer(pending)
        raise
    config["history"] = list(config.get("history", [])) + [hist]
    config["rootfs"]["diff_ids"] = list(config["rootfs"].get("diff_ids", [])) + [diff_id]
    try:
        return engine.store.create_image(layer, config, tags).id
    finally:
        engine.store.release_layer(layer)
