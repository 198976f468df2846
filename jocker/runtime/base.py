"""The runtime driver interface (containerd's "runtime" in miniature).

A driver turns a ContainerSpec into an isolated environment and runs
processes in it. It never decides anything: plans are computed by pure code
and the engine calls these in order:

    prepare_host() once per boot, create(spec), main_command(spec) -> argv the
    supervisor spawns, exec_command(...) for `exec`, signal_all(), destroy(spec).

Every method a caller needs is declared here; what a driver can do is said by
attributes (callers never probe with getattr):

    creates_console    -t allocates the terminal inside the container:
                       the supervisor uses console_command() instead of a pty
    reports_init_pid   init_pid() knows the container's PID 1 on the host
    binds_single_files single files may be bind-mounted (build RUN steps get
                       /etc/hosts... that way); else they are copied in
    teardown_apart_from_storage
                       destroy() leaves nothing in the container's root
                       filesystem (its mounts went with its processes), so
                       a `--rm` supervisor may run it beside the removal of
                       that filesystem instead of before it
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..errors import NotImplementedYet

TYPE_CHECKING = False    # typing's own constant costs the supervisor ~2 MB of RSS
if TYPE_CHECKING:
    from .spec import ContainerSpec


def spec_to_dict(spec) -> dict:
    """A ContainerSpec (or the supervisor's attribute view of one) as JSON-ready
    data: the one serialisation of a spec. Inverse: runtime.spec.from_dict."""
    d = {k: v for k, v in vars(spec).items() if k != "short_id"}
    d["mounts"] = [dict(vars(m)) for m in spec.mounts]
    d["limits"] = dict(vars(spec.limits))
    d["jail"] = dict(vars(spec.jail))
    return d


# Keys a spec had before the FreeBSD section (job files of supervisors that
# outlived an upgrade still carry them): old key -> key in `jail`.
LEGACY_JAIL_KEYS = {"devices": "devices", "allow": "allow", "jail_params": "params",
                    "securelevel": "securelevel"}


def upgrade_spec_dict(d: dict) -> dict:
    """A serialised spec in today's shape: the legacy jail keys moved into
    `jail`, which every spec has."""
    s = dict(d)
    jail = dict(s.get("jail") or {"devices": [], "allow": [], "params": {}, "securelevel": None})
    for old, new in LEGACY_JAIL_KEYS.items():
        if old in s:
            jail[new] = s.pop(old)
    s["jail"] = jail
    return s


def spec_view(d: dict):
    """The same JSON as plain attributes, for the supervisor: dataclasses (and
    the inspect module behind them) would cost it megabytes of RSS."""
    from types import SimpleNamespace
    s = upgrade_spec_dict(d)
    s["mounts"] = [SimpleNamespace(**m) for m in s.get("mounts", [])]
    s["limits"] = SimpleNamespace(**s.get("limits", {}))
    s["jail"] = SimpleNamespace(**s["jail"])
    s["short_id"] = s["id"][:12]
    return SimpleNamespace(**s)


class ProcessCommand:
    """A host argv that runs a process inside the container, and its environment.

    in_child, when set, does the same in a forked child of the caller without
    exec'ing argv (the Linux driver enters its namespaces with unshare(2)
    there, sparing an interpreter start per container); callers that must
    exec (builds spawn through subprocess) use argv."""

    __slots__ = ("argv", "env", "in_child")

    def __init__(self, argv: list[str], env: dict[str, str], in_child=None):
        self.argv = argv
        self.env = env
        self.in_child = in_child


class RuntimeDriver(ABC):
    name = "abstract"
    creates_console = False
    reports_init_pid = False
    binds_single_files = False
    updates_limits_live = False     # update_limits changes a running container's limits
    teardown_apart_from_storage = False

    @abstractmethod
    def prepare_host(self) -> None:
        """Idempotent host preparation (devfs ruleset, ...)."""

    @abstractmethod
    def create(self, spec: ContainerSpec) -> None:
        """Build the container environment (mounts, jail) without its main process."""

    @abstractmethod
    def main_command(self, spec: ContainerSpec) -> ProcessCommand:
        """The command the supervisor spawns as the container's main process."""

    @abstractmethod
    def exec_command(self, spec: ContainerSpec, argv: list[str], *, user: str, workdir: str,
                     env: list[str], tty: bool, main_pid: int | None) -> ProcessCommand:
        """A command that runs argv inside the running container (`jocker exec`)."""

    def health_command(self, spec: ContainerSpec, argv: list[str], main_pid: int | None) -> ProcessCommand:
        """A healthcheck probe: argv inside the running container with the
        main process's user, environment and working directory (Docker runs
        probes so). The supervisor calls it: no heavy imports on this path."""
        return self.exec_command(spec, list(argv), user="", workdir="", env=[], tty=False,
                                 main_pid=main_pid)

    @abstractmethod
    def signal_all(self, spec: ContainerSpec, signum: int, main_pid: int | None) -> None:
        """Send signum to every process of the container."""

    @abstractmethod
    def pids(self, spec: ContainerSpec, main_pid: int | None) -> list[int]:
        """Host PIDs of the container's processes (for `top`)."""

    def ps_selector(self, spec: ContainerSpec, pids: list[int]) -> list[str]:
        """ps(1) options that select the container's processes (for `top`)."""
        return ["-p", ",".join(map(str, pids))]

    @abstractmethod
    def destroy(self, spec: ContainerSpec) -> None:
        """Tear down: remove the jail/namespace, unmount in reverse order. Idempotent."""

    # -- with defaults: override along with the capability attribute -----------
    def console_command(self, spec: ContainerSpec, console_fd: int) -> ProcessCommand:
        """main_command for -t when creates_console: the container sends its
        terminal's master over console_fd."""
        raise NotImplementedYet(f"the {self.name} runtime does not create consoles")

    def init_pid(self, spec: ContainerSpec, timeout: float = 5.0) -> int | None:
        """Host PID of the container's PID 1 when reports_init_pid, else None
        (the main process is the one the supervisor spawned)."""
        return None

    def update_limits(self, spec: ContainerSpec) -> None:
        """Apply spec.limits to the running container when updates_limits_live
        (`jocker update`); otherwise they wait for the next start."""
        raise NotImplementedYet(f"the {self.name} runtime cannot change limits live")

    def signal_main(self, spec: ContainerSpec, signum: int, main_pid: int | None) -> None:
        """Send signum to the container's main process."""
        import os
        if main_pid:
            try:
                os.kill(int(main_pid), signum)
            except ProcessLookupError:
                pass
