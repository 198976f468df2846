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
        from ..build.builder import build
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
        eng.load_state()
        lines, freed = prune_images(eng.store, all_unused=all, label_filters=flt)
        return {"ImagesDeleted": _items(lines), "SpaceReclaimed": freed}
