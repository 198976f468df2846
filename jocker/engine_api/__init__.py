"""The engine API: the one door every front end (the CLI, `jocker serve`,
the rc.d hooks) goes through.

Verbs take names or IDs and Docker-shaped requests, take streams and
callbacks as parameters (never the process's stdio), return data (numbers,
RFC 3339 strings, dicts shaped like the Docker Engine API's) and raise
`jocker.errors` errors, whose kind each front end maps in its own table.
Nothing here changes process-wide state (cwd, signal handlers, stdio), so one
`JockerAPI` can be shared by the threads of a server.

    api = open_api()
    cid = api.containers.create(CreateRequest.from_api(body, name="web"))
    api.containers.start(cid)
"""

from __future__ import annotations

from functools import cached_property

from .requests import CreateRequest, UpdateRequest  # noqa: F401  (the request types front ends build)
from .streams import Streams  # noqa: F401


class JockerAPI:
    def __init__(self, engine):
        self.engine = engine

    @cached_property
    def containers(self):
        from .containers import Containers
        return Containers(self.engine)

    @cached_property
    def images(self):
        from .images import Images
        return Images(self.engine)

    @cached_property
    def volumes(self):
        from .volumes import Volumes
        return Volumes(self.engine)

    @cached_property
    def networks(self):
        from .networks import Networks
        return Networks(self.engine)

    @cached_property
    def system(self):
        from .system import System
        return System(self.engine)

    def inspect(self, names: list[str], kind: str | None = None) -> tuple[list[dict], list[str]]:
        """`docker inspect`: for each name, a container by that name or ID
        first, then an image; kind ("container" or "image") restricts the
        search. One read of the store. Returns (found, missing names)."""
        from ..containers.model import load_containers, resolve
        from ..containers.views import inspect_container
        from ..errors import NotFound
        from ..images.views import inspect_image
        eng = self.engine
        st = eng.load_state()
        containers = load_containers(eng.layout, st.datasets) if kind in (None, "container") else {}
        found, missing = [], []
        for name in names:
            try:
                found.append(inspect_container(eng, st, resolve(containers, name)))
                continue
            except NotFound:
                pass
            try:
                if kind in (None, "image"):
                    found.append(inspect_image(st, st.resolve(name)))
                    continue
            except NotFound:
                pass
            missing.append(name)
        return found, missing


def open_api(config_file: str | None = None, overrides: dict | None = None, runner=None) -> JockerAPI:
    """The API over the configured engine (jocker.conf, then overrides)."""
    from ..config import load
    from ..engine import Engine
    return JockerAPI(Engine(load(config_file, overrides or {}), runner))
