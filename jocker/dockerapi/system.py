"""/_ping, /version, /info, /system/df, /auth."""

from __future__ import annotations

import os
import platform

from .. import __version__
from . import backend, versions
from .routes import route
from .status import Unsupported

_PING_HEADERS = {"Builder-Version": "1", "Swarm": "inactive",
                 "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


@route("GET|HEAD", "/_ping")
def ping(req):
    if req.method == "HEAD":          # as dockerd: no body, Content-Length 0
        req.send_bytes(b"", 200, "text/plain; charset=utf-8", _PING_HEADERS)
    else:
        req.send_bytes(b"OK", 200, "text/plain; charset=utf-8", _PING_HEADERS)


def version_data() -> dict:
    osname = versions.ostype()
    return {
        "Platform": {"Name": f"jocker {__version__}"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": versions.DEFAULT, "MinAPIVersion": versions.MIN_VERSION,
                                    "Os": osname, "Arch": _arch(), "KernelVersion": platform.release(),
                                    "PythonVersion": platform.python_version()}}],
        "Version": __version__, "ApiVersion": versions.DEFAULT, "MinAPIVersion": versions.MIN_VERSION,
        "GitCommit": "", "GoVersion": "python" + platform.python_version(), "Os": osname,
        "Arch": _arch(), "KernelVersion": platform.release(), "BuildTime": "",
    }


def _arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


@route("GET", "/version")
def version(req):
    req.send_json(version_data())


@route("GET", "/info")
def info(req):
    i = backend.info()
    osname = versions.ostype()
    req.send_json({
        "ID": _node_id(), "Containers": i["Containers"], "ContainersRunning": i["ContainersRunning"],
        "ContainersPaused": i["ContainersPaused"], "ContainersStopped": i["ContainersStopped"],
        "Images": i["Images"], "Driver": "zfs", "DriverStatus": i["DriverStatus"],
        "Plugins": {"Volume": ["zfs"], "Network": ["host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": osname == "freebsd", "SwapLimit": False, "CpuCfsPeriod": False,
        "CpuCfsQuota": False, "CPUShares": False, "CPUSet": False, "PidsLimit": osname == "freebsd",
        "IPv4Forwarding": False, "Debug": False, "NFd": len(os.listdir("/dev/fd")) if os.path.isdir("/dev/fd") else 0,
        "NGoroutines": 0, "SystemTime": _now(), "LoggingDriver": "json-file",
        "CgroupDriver": "none", "CgroupVersion": "", "NEventsListener": 0,
        "KernelVersion": i["KernelVersion"], "OperatingSystem": i["OperatingSystem"],
        "OSVersion": platform.release(), "OSType": osname, "Architecture": i["Architecture"],
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {},
                           "Mirrors": []},
        "NCPU": i["NCPU"], "MemTotal": i["MemTotal"], "DockerRootDir": i["JockerRootDir"],
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": i["Name"], "Labels": [],
        "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {i["Runtime"]: {"path": i["Runtime"]}}, "DefaultRuntime": i["Runtime"],
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "SecurityOptions": [], "Warnings": None,
    })


def _now() -> str:
    from ..times import now_rfc3339
    return now_rfc3339()


def _node_id() -> str:
    import hashlib
    return hashlib.sha256(("jocker:" + platform.node()).encode()).hexdigest()[:36].upper()


@route("GET", "/system/df")
def system_df(req):
    images = backend.list_images(all_=True, filters={})
    containers = backend.list_containers(all_=True, filters={}, limit=0, size=True)
    volumes = backend.list_volumes({})
    for v in volumes:
        v["UsageData"] = {"Size": -1, "RefCount": -1}
    req.send_json({"LayersSize": backend.info_layers_size(), "Images": images,
                   "Containers": containers, "Volumes": volumes, "BuildCache": []})


@route("POST", "/auth")
def auth(req):
    """`docker login`: check the credentials against the registry; the
    client stores them and sends them back as X-Registry-Auth (dockerd keeps
    none either)."""
    from ..errors import UsageError
    body = req.json_body(required=True)
    user, password = body.get("username"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not user or not password:
        if body.get("identitytoken"):
            raise Unsupported("login with an identity token is not supported by jocker")
        raise UsageError("login needs a username and a password")
    backend.images_facade().login(body.get("serveraddress") or None, user, password, store=False)
    req.send_json({"Status": "Login Succeeded", "IdentityToken": ""})
