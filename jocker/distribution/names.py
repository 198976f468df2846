"""Where a reference lives: registry host, repository on it, tag or digest.

`alpine` -> docker.io, library/alpine:latest (API host registry-1.docker.io).
A first path component with a dot or a colon, or `localhost`, is a registry.
Short names (no registry) are tried against each configured search registry
in order (`registries_search`, default docker.io). Plain HTTP is used for
`insecure_registries` and, as Docker does, for localhost and 127.0.0.0/8.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..reference import DEFAULT_TAG, parse_reference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Remote:
    registry: str           # as written: docker.io, localhost:5000
    repository: str         # on the registry: library/alpine
    tag: str | None
    digest: str | None
    local: str              # the local repository name: alpine, localhost:5000/web

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def local_tag(self) -> str:
        return f"{self.local}:{self.tag or DEFAULT_TAG}"

    def with_tag(self, tag: str) -> "Remote":
        return Remote(self.registry, self.repository, tag, None, self.local)


def familiar(name: str) -> str:
    """Docker's short form of a repository name: docker.io/library/alpine -> alpine."""
    first, _, rest = name.partition("/")
    if first not in (DOCKER_HUB, "index.docker.io") or not rest:
        return name
    return rest[len("library/"):] if rest.startswith("library/") and rest.count("/") == 1 else rest


def has_registry(name: str) -> bool:
    first, sep, _ = name.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def split(name: str, registry: str | None = None) -> tuple[str, str]:
    """(registry, repository on it) for a validated repository name."""
    if has_registry(name):
        reg, _, repo = name.partition("/")
    else:
        reg, repo = registry or DOCKER_HUB, name
    if reg in (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API):
        reg = DOCKER_HUB
        if "/" not in repo:
            repo = "library/" + repo
    return reg, repo


def resolve(text: str, search: list[str]) -> list[Remote]:
    """Candidates for a user's reference, in search order."""
    ref = parse_reference(text)
    if has_registry(ref.repository):
        regs = [None]
    else:
        regs = list(search) or [DOCKER_HUB]
    out = []
    for reg in regs:
        r, repo = split(ref.repository, reg)
        out.append(Remote(r, repo, ref.tag, ref.digest, familiar(ref.repository)))
    return out


def is_insecure(registry: str, insecure: list[str]) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return (host == "localhost" or host.startswith("127.") or host == "[::1]"
            or registry in insecure or host in insecure)
