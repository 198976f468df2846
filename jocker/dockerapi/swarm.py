"""Swarm-mode endpoints answer as a Docker node outside a swarm does:
clients (the CLI's `inspect`, compose, Portainer) call them in passing."""

from __future__ import annotations

from .routes import route
from .status import NotSwarmManager, Unsupported

NOT_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" "
               "to connect this node to swarm and try again.")


def _not_manager(req, **_):
    req.body.drain(1 << 20)
    raise NotSwarmManager(NOT_MANAGER)


for _pattern in ("/swarm", "/swarm/unlockkey", "/services", "/services/{id}", "/services/{id}/logs",
                 "/tasks", "/tasks/{id}", "/tasks/{id}/logs", "/secrets", "/secrets/{id}",
                 "/configs", "/configs/{id}", "/nodes", "/nodes/{id}"):
    route("GET", _pattern)(_not_manager)
for _pattern in ("/swarm/update", "/swarm/unlock", "/services/create", "/services/{id}/update",
                 "/secrets/create", "/secrets/{id}/update", "/configs/create", "/configs/{id}/update",
                 "/nodes/{id}/update"):
    route("POST", _pattern)(_not_manager)
for _pattern in ("/services/{id}", "/secrets/{id}", "/configs/{id}", "/nodes/{id}"):
    route("DELETE", _pattern)(_not_manager)


@route("POST", "/swarm/leave")
def swarm_leave(req):
    # 503, as dockerd answers (moby's errNoSwarm is "not available") and the
    # API documents for /swarm/leave.
    raise NotSwarmManager("This node is not part of a swarm")


@route("POST", "/swarm/init")
@route("POST", "/swarm/join")
def swarm_init(req):
    raise Unsupported("jocker does not run swarm mode")


@route("GET", "/plugins")
def plugins(req):
    req.send_json([])


@route("GET", "/plugins/{name:.+}/json")
def plugin_inspect(req, name):
    from ..errors import NotFound
    raise NotFound(f"plugin \"{name}\" not found")
