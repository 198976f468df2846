"""The shipping verbs front ends call: pull, push, login, logout (and, in
archive.py, save and load). Stream-based: progress goes to a callback
(`progress(event)`, event a dict with `status` and optionally `id`,
`current`, `total`, as Docker's JSON progress messages), never to stdout."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import JockerError, NotFound, UsageError
from ..images.blobs import BlobStore
from ..reference import parse_reference
from .auth import CredentialStore, Credentials
from .client import Client, RegistryError
from .names import DOCKER_HUB, Remote, is_insecure, resolve, split


@dataclass
class Pulled:
    image: object
    reference: str          # what was pulled, e.g. localhost:5000/web:1
    digest: str
    updated: bool = True    # False: the name already meant this image


def blob_store(engine) -> BlobStore:
    return BlobStore(engine.layout.mountpoint)


def client_for(engine, registry: str, api_host: str | None = None,
               auth: Credentials | None = None) -> Client:
    """A registry client with auth (the API's X-Registry-Auth) or else the
    credentials stored by `jocker login`."""
    cfg = engine.config
    insecure = is_insecure(registry, cfg.insecure_registries.split())
    creds = auth or CredentialStore(engine.runner).get(registry)
    return Client(registry, api_host or registry, insecure=insecure, creds=creds,
                  timeout=float(cfg.int("registry_timeout")))


def _candidates(engine, name: str) -> list[Remote]:
    return resolve(name, engine.config.registries_search.split())


def pull(engine, name: str, *, platform: str | None = None, all_tags: bool = False,
         progress=None, auth: Credentials | None = None) -> list[Pulled]:
    from .pull import Puller, parse_platform
    plat = parse_platform(platform)
    ref = parse_reference(name)
    if all_tags and (ref.tag or ref.digest):
        raise UsageError("tag can't be used with --all-tags/-a")
    from ..images.remove import collect_garbage
    with engine.store.lock.held():          # one read serves the collector and the first lookup
        st = engine.load_state()
        collect_garbage(engine.store, state=st)    # what a killed pull or build left behind
    last: JockerError | None = None
    for remote in _candidates(engine, name):
        client = client_for(engine, remote.registry, remote.api_host, auth)
        puller = Puller(engine, client, blob_store(engine), progress)
        try:
            targets = [remote.with_tag(t) for t in client.tags(remote.repository)] if all_tags \
                else [remote]
            out = []
            for r in targets:
                tags = [] if r.digest else [r.local_tag]
                name = f"{r.local}@{r.digest}" if r.digest else r.local_tag
                try:
                    before = (st or engine.load_state()).resolve(name).id
                except (NotFound, UsageError):
                    before = None
                st = None                   # the next target reads the store afresh
                img, digest = puller.pull(r, plat, tags)
                engine.store.steal_repo_digests(img)
                out.append(Pulled(img, name, digest, before != img.id))
            return out
        except (NotFound, RegistryError) as e:      # try the next search registry
            last = e
    assert last is not None
    raise last


def push(engine, name: str, *, all_tags: bool = False, progress=None,
         auth: Credentials | None = None, compression: str | None = None,
         level: int | None = None) -> list[tuple[str, str, int]]:
    """Push name[:tag] (or every tag of name). Returns (tag, digest, size).
    compression: "gzip" or "zstd", every layer in it (made when missing);
    None: `push_compression` from the configuration, where gzip (the
    default) means layers as stored (pulled ones as they came, others gzip)."""
    from ..format import parse_size
    from ..images.compress import check
    from .push import Pusher
    if compression is None:
        configured = engine.config.push_compression
        try:
            check(configured, None)         # the level is the option's: checked below
        except UsageError as e:
            raise UsageError(f"configuration push_compression={configured!r} "
                             f"({engine.config.sources.get('push_compression', 'default')}): {e.message}",
                             hint="set it to gzip or zstd") from None
        check(configured, level)
        compression = None if configured == "gzip" and level is None else configured
    else:
        check(compression, level)
    ref = parse_reference(name)
    if ref.digest:
        raise UsageError(f"cannot push a digest reference: {name}", hint="push NAME[:TAG]")
    st = engine.load_state()
    if all_tags:
        tags = [t for t in st.by_tag() if t.rsplit(":", 1)[0] == ref.repository]
    else:
        tags = [ref.name_tag]
    if not tags or ref.name_tag not in st.by_tag() and not all_tags:
        raise NotFound(f"An image does not exist locally with the tag: {ref.repository}",
                       hint=f"tag one first: jocker tag IMAGE {ref.name_tag}")
    search = engine.config.registries_search.split()
    out = []
    for tag in sorted(tags):
        img = st.by_tag()[tag]
        remote = resolve(tag, search[:1])[0]
        client = client_for(engine, remote.registry, remote.api_host, auth)
        chunk = parse_size(engine.config.registry_chunk_size)
        digest, size = Pusher(engine, client, blob_store(engine), progress, chunk,
                              compression, level).push(img, remote)
        out.append((remote.tag or "latest", digest, size))
    return out


def _registry_of(server: str | None) -> str:
    if not server:
        return DOCKER_HUB
    server = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if server.endswith("/v1") or server.endswith("/v2"):
        server = server[:-3]
    reg, _ = split(server + "/x") if "/" not in server else (server.split("/")[0], "")
    return reg


def login(engine, server: str | None, username: str, password: str, *,
          store: bool = True) -> tuple[str, str]:
    """Check the credentials against the registry and store them (not with
    store=False: the API's /auth, whose client keeps its own). Returns
    (registry, where they were stored, or "")."""
    if not username or not password:
        raise UsageError("login needs a username and a password",
                         hint="jocker login -u USER --password-stdin REGISTRY")
    registry = _registry_of(server)
    api = "registry-1.docker.io" if registry == DOCKER_HUB else registry
    client = client_for(engine, registry, api)
    client.creds = Credentials(username, password)
    client.ping()
    if not store:
        return registry, ""
    where = CredentialStore(engine.runner).store(registry, client.creds)
    return registry, where


def logout(engine, server: str | None) -> tuple[str, bool]:
    registry = _registry_of(server)
    return registry, CredentialStore(engine.runner).erase(registry)
