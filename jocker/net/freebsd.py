"""The FreeBSD network driver: bridge(4), epair(4) into VNET jails, pf
anchors under jocker/ (freebsd_plan has the exact commands and rules)."""

from __future__ import annotations

from ..errors import JockerError
from . import freebsd_plan as fp
from . import naming
from .driver import NetworkDriver

class FreeBSDNetworkDriver(NetworkDriver):
    name = "freebsd"
    vnet = True
    publish_udp = True
    publish_localhost = True     # with net.pf.filter_local=1 (system check says so)
    hairpin = True

    def host_routes(self, own_bridges: set[str]) -> list[str]:
        res = self.runner.run(fp.routes_command(), check=False)
        return fp.parse_routes(res.stdout, own_bridges)

    def _load_anchor(self, anchor: str, text: str) -> None:
        """Checked with pfctl -n first: a rule pf refuses never half-loads."""
        self.runner.run(fp.pf_check_command(anchor), input=text,
                        hint="see `jocker system check` for the pf.conf hook lines")
        self.runner.run(fp.pf_load_command(anchor), input=text)

    def _create_renamed(self, create: list[str], name: str) -> None:
        created = self.runner.run(create).stdout.strip()
        self.runner.run(fp.rename_command(created, name))

    def ensure_network(self, net: dict, prefix: str, owner: str = "") -> bool:
        if self.runner.run(fp.bridge_exists_command(net["bridge"]), check=False).returncode == 0:
            return False
        self._create_renamed(fp.bridge_create_command(), net["bridge"])
        try:
            if owner:
                self.runner.run(fp.describe_command(net["bridge"], owner))
            self.runner.run(fp.bridge_address_command(net))
            egress = fp.parse_egress(self.runner.run(fp.egress_command(), check=False).stdout)
            text = fp.network_anchor_text(net, egress)
            if text:
                self._load_anchor(naming.network_anchor(net["bridge"]), text)
        except JockerError:
            self.remove_network(net)
            raise
        return True

    def bridge_owner(self, bridge: str, owner: str) -> str:
        """By the bridge's description. A pf anchor jocker/<bridge> with no
        bridge is not inspected: ensure_network reloads it whole [U]."""
        res = self.runner.run(fp.bridge_exists_command(bridge), check=False)
        if res.returncode != 0:
            return "absent"
        return "ours" if fp.parse_description(res.stdout) == owner else "foreign"

    def remove_network(self, net: dict) -> None:
        self.runner.run(fp.pf_flush_command(naming.network_anchor(net["bridge"])), check=False)
        self.runner.run(fp.destroy_command(net["bridge"]), check=False)

    def setup(self, att: dict) -> None:
        if att.get("mode") != "bridge":
            return
        self.teardown(att)       # epairs left by a crash would make the renames fail
        try:
            for e in att["endpoints"]:
                created = self.runner.run(fp.epair_create_command()).stdout.strip()
                for argv in fp.epair_setup_commands(created, e):
                    self.runner.run(argv)
        except JockerError:
            self.teardown(att)
            raise

    def after_create(self, att: dict, jail: str) -> None:
        for argv in fp.inside_commands(jail, att):
            self.runner.run(argv)
        if att.get("ports"):
            self._load_anchor(att["anchor"], fp.container_anchor_text(att))

    def teardown(self, att: dict) -> None:
        """Each step may find its object gone already (the runner logs the
        command with --debug); the supervisor calls this, so no logging here."""
        for argv in fp.container_teardown(att):
            self.runner.run(argv, check=False)

    def connect_live(self, att: dict, index: int) -> None:
        from ..runtime.jail_plan import jail_name
        e = next(e for e in att["endpoints"] if e["index"] == index)
        created = self.runner.run(fp.epair_create_command()).stdout.strip()
        for argv in fp.epair_setup_commands(created, e):
            self.runner.run(argv)
        jail = jail_name(att["cid"])
        for argv in fp.endpoint_move_commands(jail, e):
            self.runner.run(argv)

    def disconnect_live(self, att: dict, index: int) -> None:
        e = next(e for e in att["endpoints"] if e["index"] == index)
        self.runner.run(fp.destroy_command(e["host_if"]), check=False)
