"""`jocker compose ...`: hand over to the installed Compose tool with
DOCKER_HOST pointed at jocker's API socket. jocker has no Compose of its
own: the tool drives `jocker serve` through the Engine API like dockerd.

Where the socket is: `api_host` from jocker.conf when a server answers
there, else the address a running `jocker serve` recorded in the run
directory (serve writes `<rundir>/api-hosts/<pid>` while it listens)."""

from __future__ import annotations

import os
import socket

from ..errors import CommandNotFound, JockerError
from ..host.process import pid_alive

# Compose v2 and later (Go) ship as a docker CLI plugin; the binary also runs
# standalone. FreeBSD's sysutils/docker-compose installs it under
# ${PREFIX}/lib/docker/cli-plugins (v5 in the ports tree at the time of
# writing) [U: not yet run against jocker on a FreeBSD host].
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/libexec/docker/cli-plugins", "/usr/lib/docker/cli-plugins")
INSTALL_HINT = ("install one: FreeBSD `pkg install docker-compose` (port sysutils/docker-compose), "
                "Debian `apt-get install docker-compose`")


def find_tool(which, home: str = "") -> list[str]:
    """The Compose command to run: docker-compose on PATH (v1, or a v2
    binary installed standalone), else the docker CLI plugin run directly.
    `which` is shutil.which (a parameter, for tests)."""
    exe = which("docker-compose")
    if exe:
        return [exe]
    dirs = ([os.path.join(home, ".docker", "cli-plugins")] if home else []) + list(PLUGIN_DIRS)
    for d in dirs:
        plugin = os.path.join(d, "docker-compose")
        if os.path.isfile(plugin) and os.access(plugin, os.X_OK):
            return [plugin]
    raise CommandNotFound("jocker compose: no Compose tool found (docker-compose or the docker "
                          "compose plugin)", hint=INSTALL_HINT)


def recorded_hosts(rundir: str) -> list[str]:
    """Addresses of running `jocker serve` processes (their records under
    the run directory; a record whose process is gone is skipped)."""
    d = os.path.join(rundir, "api-hosts")
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.isdigit() or not pid_alive(name):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                out.append(f.read().strip())
        except OSError:
            continue
    return [a for a in out if a]


def answers(address: str) -> bool:
    """A server accepts connections on that unix:// address."""
    if not address.startswith("unix://"):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(address[len("unix://"):])
        return True
    except OSError:
        return False
    finally:
        s.close()


def api_address(configured: str, rundir: str) -> str:
    """The unix:// address Compose is pointed at."""
    for address in [configured, *recorded_hosts(rundir)]:
        if answers(address):
            return address
    raise JockerError(f"jocker compose: no jocker API server answers on {configured}",
                      hint="start one with `jocker serve`; FreeBSD: sysrc jocker_api_enable=YES && "
                           "service jocker start")


def handover(argv: list[str], environ: dict, address: str) -> tuple[list[str], dict]:
    """The command and environment that run Compose against jocker: the
    caller's environment with DOCKER_HOST set (and DOCKER_CONTEXT, TLS
    settings dropped, so nothing points the tool elsewhere)."""
    env = {k: v for k, v in environ.items()
           if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
    env["DOCKER_HOST"] = address
    # The classic builder: jocker serves POST /build, not BuildKit's session API.
    env.setdefault("DOCKER_BUILDKIT", "0")
    env.setdefault("COMPOSE_DOCKER_CLI_BUILD", "0")
    return list(argv), env


def record(rundir: str, address: str) -> str:
    """`jocker serve`: note where this process listens; the path to remove
    when it stops."""
    d = os.path.join(rundir, "api-hosts")
    os.makedirs(d, mode=0o755, exist_ok=True)
    path = os.path.join(d, str(os.getpid()))
    with open(path, "w") as f:
        f.write(address + "\n")
    return path


def plan(cfg, argv: list[str], environ: dict, which) -> tuple[list[str], dict]:
    """`jocker compose ARGS`: (command, environment) to run."""
    tool = find_tool(which, environ.get("HOME", ""))
    return handover(tool + list(argv), environ, api_address(cfg.api_host, cfg.rundir))
