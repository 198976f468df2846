"""Images: import, build, list, inspect, history, tag, remove, prune."""

from __future__ import annotations

from typing import BinaryIO

from .requests import BuildOptions
from ..filters import IMAGE_FILTERS, pairs, prune_label_filters


def _items(lines: list[str]) -> list[dict]:
    """Docker's delete report: [{"Untagged": ref} | {"Deleted": id}]."""
    out = []
    for line in lines:
        key, _, value = line.partition(": ")
        out.append({key.capitalize(): value})
    return out


class Images:
    def __init__(self, engine):
        self.engine = engine

    def _state(self):
        return self.engine.load_state()

    def import_(self, source: str, reference: str | None = None, *, message: str = "",
                changes: list[str] = (), stdin: BinaryIO | None = None) -> str:
        """`POST /images/create?fromSrc=`: a rootfs tarball, a directory, or "-"
        (read from stdin). changes are Dockerfile lines (CMD, ENV...)."""
        from ..images.changes import parse_changes
        from ..images.importer import import_image
        config = parse_changes(list(changes)) if changes else None
        eng = self.engine
        eng.load_state()                   # initializes storage on first use
        return import_image(eng.store, eng.runner, source, reference, message=message,
                            changes=config, stdin=stdin).id

    def build(self, opts: BuildOptions, *, stdout: BinaryIO, stderr: BinaryIO,
              stdin: BinaryIO | None = None, interrupt_on: tuple[int, ...] = ()):
        """`POST /build`: the build's output goes to stdout (Docker's classic
        builder's lines). Returns the BuildResult."""
        from ..builder.builder import build
        return build(self.engine, opts, stdin=stdin, stdout=stdout, stderr=stderr,
                     interrupt_on=interrupt_on)

    def list(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[dict]:
        """`GET /images/json`, newest first."""
        from ..images.views import image_list
        return image_list(self._state(), all_images=all, filters=pairs(filters, IMAGE_FILTERS))

    def inspect(self, ref: str) -> dict:
        from ..images.views import inspect_image
        st = self._state()
        return inspect_image(st, st.resolve(ref))

    def history(self, ref: str) -> list[dict]:
        from ..images.views import history
        st = self._state()
        return history(st, st.resolve(ref))

    def tag(self, source: str, target: str) -> None:
        from ..images.state import default_tag
        tag = default_tag(target)          # validate before reading anything
        img = self._state().resolve(source)
        self.engine.store.tag(img, [tag])

    def remove(self, ref: str, *, force: bool = False, prune_parents: bool = True) -> list[dict]:
        """`DELETE /images/{name}`: refused while a running container uses it."""
        from ..containers.status import running_ids
        from ..images.remove import remove_image
        eng = self.engine
        eng.load_state()
        return _items(remove_image(eng.store, ref, force=force, running=running_ids(eng),
                                   prune_parents=prune_parents))

    def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> dict:
        """`POST /images/prune`: {"ImagesDeleted": [...], "SpaceReclaimed": bytes}."""
        from ..images.remove import prune_images
        eng = self.engine
        flt = prune_label_filters(filters)
        with eng.lock.held():        # the one read happens under the lock
            st = eng.load_state()    # (which also makes the store on first use)
            lines, freed = prune_images(eng.store, all_unused=all, label_filters=flt, state=st)
        return {"ImagesDeleted": _items(lines), "SpaceReclaimed": freed}

    # -- shipping (jocker/distribution): streams and callbacks, never stdio --
    def pull(self, name: str, *, platform: str | None = None, all_tags: bool = False,
             progress=None) -> list[dict]:
        """`POST /images/create?fromImage=`: [{"Reference", "Id", "Digest", "Status"}].
        progress(event) receives Docker's JSON progress messages as dicts."""
        from ..distribution.verbs import pull
        return [{"Reference": p.reference, "Id": p.image.id, "Digest": p.digest,
                 "Status": (f"Downloaded newer image for {p.reference}" if p.updated
                            else f"Image is up to date for {p.reference}")}
                for p in pull(self.engine, name, platform=platform, all_tags=all_tags, progress=progress)]

    def push(self, name: str, *, all_tags: bool = False, progress=None) -> list[dict]:
        """`POST /images/{name}/push`: [{"Tag", "Digest", "Size"}]."""
        from ..distribution.verbs import push
        return [{"Tag": t, "Digest": d, "Size": s}
                for t, d, s in push(self.engine, name, all_tags=all_tags, progress=progress)]

    def save(self, names: list[str], out: BinaryIO, progress=None) -> None:
        """`GET /images/get`: an OCI-layout + docker-archive tar written to out."""
        from ..distribution.archive import save
        save(self.engine, list(names), out, progress)

    def save_to_file(self, names: list[str], path: str) -> None:
        from ..distribution.archive import save_to_file
        save_to_file(self.engine, list(names), path)

    def load(self, stream: BinaryIO, *, platform: str | None = None, progress=None) -> list[str]:
        """`POST /images/load`: Docker's `Loaded image: ...` lines."""
        from ..distribution.archive import load
        return load(self.engine, stream, platform=platform, progress=progress)

    def login(self, server: str | None, username: str, password: str) -> dict:
        """`POST /auth`: checks and stores the credentials."""
        from ..distribution.verbs import login
        registry, where = login(self.engine, server, username, password)
        return {"Status": "Login Succeeded", "Registry": registry, "StoredIn": where}

    def logout(self, server: str | None) -> dict:
        from ..distribution.verbs import logout
        registry, found = logout(self.engine, server)
        return {"Registry": registry, "Removed": found}

    def send(self, name: str, out: BinaryIO, *, have: set[str] = frozenset(), progress=None) -> None:
        """The image as ZFS streams (jocker/distribution/zfsship.py) written to out."""
        from ..distribution.zfsship import send
        send(self.engine, name, out, have_guids=set(have), progress=progress)

    def receive(self, stream: BinaryIO, progress=None) -> dict:
        """An image from `send`'s stream: {"Id", "RepoTags"}."""
        from ..distribution.zfsship import receive
        img = receive(self.engine, stream, progress)
        return {"Id": img.id, "RepoTags": sorted(img.tags)}

    def have(self) -> dict:
        """The layers this host has, for `send(have=...)`."""
        from ..distribution.zfsship import have
        return have(self.engine)
