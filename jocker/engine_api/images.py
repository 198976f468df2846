"""Images: import, build, list, inspect, history, tag, remove, prune."""

from __future__ import annotations

from typing import BinaryIO

from ..events import produce as events
from .requests import BuildOptions
from ..errors import UsageError
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
        img = import_image(eng.store, eng.runner, source, reference, message=message,
                           changes=config, stdin=stdin)
        for tag in sorted(img.tags):
            events.image(eng, img, "tag", tag)
        events.image(eng, img, "import")
        return img.id

    def build(self, opts: BuildOptions, *, stdout: BinaryIO, stderr: BinaryIO,
              stdin: BinaryIO | None = None, interrupt_on: tuple[int, ...] = ()):
        """`POST /build`: the build's output goes to stdout (Docker's classic
        builder's lines). Returns the BuildResult."""
        from ..builder.builder import build
        result = build(self.engine, opts, stdin=stdin, stdout=stdout, stderr=stderr,
                       interrupt_on=interrupt_on)
        for tag in result.tags:            # as Docker's classic builder tags its result
            events.image(self.engine, result.image, "tag", tag)
        return result

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
        events.image(self.engine, img, "tag", tag)

    def remove(self, ref: str, *, force: bool = False, prune_parents: bool = True) -> list[dict]:
        """`DELETE /images/{name}`: refused while a running container uses it."""
        from ..containers.status import running_ids
        from ..images.remove import remove_image
        eng = self.engine
        before = eng.load_state()
        lines = remove_image(eng.store, ref, force=force, running=running_ids(eng),
                             prune_parents=prune_parents)
        events.image_lines(eng, lines, before)
        return _items(lines)

    def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> dict:
        """`POST /images/prune`: {"ImagesDeleted": [...], "SpaceReclaimed": bytes,
        "LeftoversRemoved": [...]}: also what killed imports, pulls and builds
        left (layers, spools), counted in SpaceReclaimed."""
        from ..images.remove import collect_garbage, prune_images
        eng = self.engine
        flt = prune_label_filters(filters)
        with eng.lock.held():        # the one read happens under the lock
            st = eng.load_state()    # (which also makes the store on first use)
            lines, freed = prune_images(eng.store, all_unused=all, label_filters=flt, state=st)
            events.image_lines(eng, lines, st)
            left, left_freed = collect_garbage(eng.store, state=st)     # st is kept current
        events.pruned(eng, "image", freed + left_freed)
        return {"ImagesDeleted": _items(lines), "SpaceReclaimed": freed + left_freed,
                "LeftoversRemoved": left}

    # -- shipping (jocker/distribution): streams and callbacks, never stdio --
    def pull(self, name: str, *, platform: str | None = None, all_tags: bool = False,
             progress=None, auth: dict | None = None) -> list[dict]:
        """`POST /images/create?fromImage=`: [{"Reference", "Id", "Digest", "Status"}].
        progress(event) receives Docker's JSON progress messages as dicts;
        auth is Docker's AuthConfig ({"username", "password"}, the
        X-Registry-Auth header), else the stored login is used."""
        from ..distribution.verbs import pull
        pulled = pull(self.engine, name, platform=platform, all_tags=all_tags, progress=progress,
                      auth=_credentials(auth))
        for p in pulled:
            events.image(self.engine, p.image, "pull", p.reference, ident=p.reference)
        return [{"Reference": p.reference, "Id": p.image.id, "Digest": p.digest,
                 "Status": (f"Downloaded newer image for {p.reference}" if p.updated
                            else f"Image is up to date for {p.reference}")}
                for p in pulled]

    def push(self, name: str, *, all_tags: bool = False, progress=None, auth: dict | None = None,
             compression: str | None = None, level: int | None = None) -> list[dict]:
        """`POST /images/{name}/push`: [{"Tag", "Digest", "Size"}]; auth as pull's.
        compression: "gzip" or "zstd" for every layer (level: of the blobs
        made now); None: the configuration's push_compression."""
        from ..distribution.verbs import push
        from ..reference import parse_reference
        pushed = push(self.engine, name, all_tags=all_tags, progress=progress, auth=_credentials(auth),
                      compression=compression, level=level)
        repo = parse_reference(name).repository
        st = self._state()
        for t, _, _ in pushed:
            ref = f"{repo}:{t}"
            events.image(self.engine, st.resolve(ref), "push", ref, ident=ref)
        return [{"Tag": t, "Digest": d, "Size": s} for t, d, s in pushed]

    def save(self, names: list[str], out: BinaryIO, progress=None) -> None:
        """`GET /images/get`: an OCI-layout + docker-archive tar written to out."""
        from ..distribution.archive import save
        save(self.engine, list(names), out, progress)
        self._saved(names)

    def _saved(self, names: list[str]) -> None:
        st = self._state()
        for img in {st.resolve(n).id: st.resolve(n) for n in names}.values():
            events.image(self.engine, img, "save")

    def save_to_file(self, names: list[str], path: str) -> None:
        from ..distribution.archive import save_to_file
        save_to_file(self.engine, list(names), path)
        self._saved(names)

    def load(self, stream: BinaryIO, *, platform: str | None = None, progress=None) -> list[str]:
        """`POST /images/load`: Docker's `Loaded image: ...` lines."""
        from ..distribution.archive import load
        lines = load(self.engine, stream, platform=platform, progress=progress)
        st = self._state()
        done = set()
        for line in lines:
            ref = line.split(": ", 1)[-1]
            img = st.resolve(ref)
            if img.id not in done:
                done.add(img.id)
                events.image(self.engine, img, "load")
            if not line.startswith("Loaded image ID"):
                events.image(self.engine, img, "tag", ref)
        return lines

    def login(self, server: str | None, username: str, password: str, *, store: bool = True) -> dict:
        """`jocker login`: checks and stores the credentials; `POST /auth`
        (store=False): checks them only, the client keeps its own."""
        from ..distribution.verbs import login
        registry, where = login(self.engine, server, username, password, store=store)
        return {"Status": "Login Succeeded", "Registry": registry, "StoredIn": where}

    def logout(self, server: str | None) -> dict:
        from ..distribution.verbs import logout
        registry, found = logout(self.engine, server)
        return {"Registry": registry, "Removed": found}

    def send(self, name: str, out: BinaryIO, *, have: set[str] = frozenset(), blobs: bool = True,
             progress=None) -> None:
        """The image as ZFS streams (jocker/distribution/zfsship.py) written to
        out, with its layer blobs unless blobs is False."""
        from ..distribution.zfsship import send
        send(self.engine, name, out, have_guids=set(have), blobs=blobs, progress=progress)

    def receive(self, stream: BinaryIO, progress=None) -> dict:
        """An image from `send`'s stream: {"Id", "RepoTags"}."""
        from ..distribution.zfsship import receive
        img = receive(self.engine, stream, progress)
        return {"Id": img.id, "RepoTags": sorted(img.tags)}

    def have(self) -> dict:
        """The layers this host has, for `send(have=...)`."""
        from ..distribution.zfsship import have
        return have(self.engine)


def _credentials(auth: dict | None):
    """Docker's AuthConfig as registry credentials; None (the stored login)
    when it carries no username and password (an identity token is not
    supported: the stored login is used then)."""
    from ..distribution.auth import Credentials
    if not auth:
        return None
    if not isinstance(auth, dict):
        raise UsageError("the registry credentials must be a JSON object")
    user, password = auth.get("username") or "", auth.get("password") or ""
    if not (user and password) and auth.get("auth"):
        import base64
        import binascii
        try:
            user, _, password = base64.b64decode(auth["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise UsageError("invalid registry credentials: 'auth' is not base64 of user:password") from None
    if not (isinstance(user, str) and isinstance(password, str)) or not (user and password):
        return None
    return Credentials(user, password)
