"""The network driver interface: one per host OS. Drivers carry out the
plans of linux_plan / freebsd_plan and declare what they can do as
attributes (callers never probe)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

from ..host.runner import Runner, default_runner


class NetworkDriver(ABC):
    name = "abstract"
    vnet = False                 # containers get a network stack of their own
    publish_udp = False          # -p .../udp works
    publish_localhost = False    # published ports answer on 127.0.0.1 from the host
    hairpin = False              # containers reach published ports of their own network

    def __init__(self, runner: Runner | None = None):
        self.runner = runner or default_runner()

    @abstractmethod
    def host_routes(self, own_bridges: set[str]) -> list[str]:
        """Destinations of the host's routes, except the default route and
        jocker's own bridges: a new network must not overlap them."""
        ...

    @abstractmethod
    def ensure_network(self, net: dict, prefix: str, owner: str = "") -> bool:
        """Create the network's bridge (and NAT) if it is missing, marked
        with `owner` (naming.store_marker); True if created."""
        ...

    @abstractmethod
    def bridge_owner(self, bridge: str, owner: str) -> str:
        """Who holds that bridge name on the host: "absent", "ours" (it, or
        what is left of it, carries `owner`) or "foreign" (never touch)."""
        ...

    @abstractmethod
    def remove_network(self, net: dict) -> None:
        ...

    @abstractmethod
    def setup(self, att: dict) -> None:
        """Before the container's processes start (Linux: netns, veth, nft;
        FreeBSD: the epairs, before `jail -c`)."""
        ...

    def after_create(self, att: dict, jail: str) -> None:
        """FreeBSD: configure inside the VNET jail and load its pf anchor."""

    @abstractmethod
    def connect_live(self, att: dict, index: int) -> None:
        """`network connect` of a running container: add endpoint `index`."""
        ...

    @abstractmethod
    def disconnect_live(self, att: dict, index: int) -> None:
        ...

    @abstractmethod
    def teardown(self, att: dict) -> None:
        """Idempotent: after stop, rm, or a crashed supervisor."""
        ...


def make_driver(runner: Runner | None = None, system: str | None = None) -> NetworkDriver:
    if (system or os.uname().sysname) == "FreeBSD":
        from .freebsd import FreeBSDNetworkDriver
        return FreeBSDNetworkDriver(runner)
    from .linux import LinuxNetworkDriver
    return LinuxNetworkDriver(runner)
