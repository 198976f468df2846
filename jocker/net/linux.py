"""The Linux network driver (the workbench's stand-in for VNET + pf): runs
linux_plan's steps through the runner. Imported by the supervisor: keep it
small (no dataclasses)."""

from __future__ import annotations

import os

from ..errors import JockerError
from . import linux_plan as lp
from . import naming
from ..host.runner import debug
from .driver import NetworkDriver

# How long a teardown lets the kernel remove a deleted namespace's veths
# (~1 ms when idle) before it deletes what is left itself.
VETH_GRACE = 0.05


def _debug(fmt: str, *args) -> None:
    debug("jocker.net.linux", fmt, *args)


class LinuxNetworkDriver(NetworkDriver):
    name = "linux"
    vnet = True
    publish_udp = True
    publish_localhost = True     # DNAT in the output hook + route_localnet on the bridge
    hairpin = True               # needs net.ipv4.ip_forward=1 (routed back out the bridge)

    def _run(self, steps: list[dict]) -> None:
        for s in steps:
            self.runner.run(s["argv"], input=s["input"], check=s["check"])

    def host_routes(self, own_bridges: set[str]) -> list[str]:
        res = self.runner.run(lp.routes_command(), check=False)
        return lp.parse_routes(res.stdout, own_bridges)

    def ensure_network(self, net: dict, prefix: str, owner: str = "") -> bool:
        # sysfs answers without a host command (every start asks).
        if os.path.isdir(f"/sys/class/net/{net['bridge']}"):
            return False
        try:
            self._run(lp.bridge_setup(net, prefix, owner))
        except JockerError:
            self._run(lp.bridge_teardown(net["bridge"]))
            raise
        return True

    def bridge_owner(self, bridge: str, owner: str) -> str:
        try:
            with open(f"/sys/class/net/{bridge}/ifalias") as f:
                return "ours" if f.read().strip() == owner else "foreign"
        except FileNotFoundError:
            pass                # no such interface: maybe its table alone is left
        res = self.runner.run(lp.table_show_command(naming.network_table(bridge)), check=False)
        if res.returncode != 0:
            return "absent"
        return "ours" if lp.parse_table_comment(res.stdout) == owner else "foreign"

    def remove_network(self, net: dict) -> None:
        self._run(lp.bridge_teardown(net["bridge"]))

    def setup(self, att: dict) -> None:
        if att.get("mode") not in ("bridge", "none"):
            return
        for attempt in (1, 2):
            try:
                self._build(lp.container_stack(att), new_netns=True)
                return
            except JockerError:
                self.teardown(att)      # what this try made, or a crashed run's leftovers
                if attempt == 2:
                    raise

    def _build(self, stack: dict, *, new_netns: bool) -> None:
        """Carry out a stack plan: netlink requests (rtnl.py) instead of
        `ip` programs, then the port table through the runner."""
        from . import rtnl
        ns = stack["netns"]
        try:
            if new_netns:
                rtnl.netns_add(ns)
            if stack["veths"]:
                with rtnl.Rtnl() as host:
                    for v in stack["veths"]:
                        host.veth_add(v["host"], v["inside"], v["mac"], ns)
                        host.link_up(v["host"], master=v["bridge"])
            with rtnl.InNetns(ns), rtnl.Rtnl() as inside:
                for a in stack["addresses"]:
                    inside.addr_add(a["dev"], a["ip"], a["prefixlen"])
                for name in stack["up"]:
                    inside.link_up(name)
                if stack["default_via"]:
                    inside.default_route(stack["default_via"])
        except OSError as e:
            why = e.strerror if isinstance(e, rtnl.NetlinkError) else \
                f"{e.filename}: {e.strerror}" if e.filename else str(e)
            raise JockerError(f"network set-up of netns {ns}: {why}",
                              hint="jocker system check shows what the host lacks") from None
        if stack["nft"]:
            self.runner.run(["nft", "-f", "-"], input=stack["nft"])

    def teardown(self, att: dict) -> None:
        """Idempotent, and never stops half way (as `ip -force -b` was): what
        is already gone is skipped, a failure is logged and the rest goes on."""
        down = lp.container_teardown(att)
        self._run(down["steps"])
        if down["netns"] is None:
            return
        from . import rtnl
        links = down["links"]
        try:
            if rtnl.netns_del(down["netns"]) and links:
                # Its end of each veth takes the host end along once the
                # kernel has cleaned the namespace up; only what something
                # else keeps (a process still in the namespace) is deleted
                # here, after the grace: a delete racing the clean-up would
                # wait for it (18 ms of every bridge `run --rm`).
                links = rtnl.links_remaining(links, VETH_GRACE)
        except OSError as e:
            _debug("teardown: %s", e)
        if links:
            with rtnl.Rtnl() as host:
                for name in links:
                    try:
                        host.link_del(name)
                    except OSError as e:
                        _debug("teardown: %s", e)

    def connect_live(self, att: dict, index: int) -> None:
        try:
            self._build(lp.endpoint_stack(att, index), new_netns=False)
        except JockerError:
            # A veth made before the failure goes again (its inside end with it).
            self._run(lp.endpoint_remove(att, index))
            raise

    def disconnect_live(self, att: dict, index: int) -> None:
        self._run(lp.endpoint_remove(att, index))
