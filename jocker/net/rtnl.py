"""rtnetlink and named network namespaces, just enough for a container's own
network stack on the Linux workbench (FreeBSD builds VNET jails with
ifconfig and jail(8): net/freebsd.py).

Why not `ip`: a container's stack was two `ip -b` programs (the netns and
the host ends of its veths, then the inside), ~12 ms of every start on a
bridge. The same requests sent here over one netlink socket per namespace
cost well under a millisecond. The requests are iproute2's own (the
kernel's RTM_NEWLINK/NEWADDR/NEWROUTE), and a namespace is made the way
`ip netns add` makes it (a bind mount under /run/netns on a shared mount),
so `ip netns exec`, `ip -n` and `ip netns del` work on it as before.

Stdlib and ctypes only: the supervisor imports it.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 4096, 16384, 1 << 20

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
MNT_DETACH = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


class NetlinkError(OSError):
    pass


def _fail(what: str) -> NetlinkError:
    e = ctypes.get_errno()
    return NetlinkError(e, f"{what}: {os.strerror(e)}")


# -- named namespaces ---------------------------------------------------------

def netns_path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid netns name {name!r}")
    return os.path.join(NETNS_DIR, name)


def _share_netns_dir() -> None:
    """/run/netns a shared mount, as `ip netns add` leaves it, so a netns
    mounted there is seen from mount namespaces made later."""
    os.makedirs(NETNS_DIR, 0o755, exist_ok=True)
    d = NETNS_DIR.encode()
    if _libc.mount(b"", d, b"none", ctypes.c_ulong(MS_SHARED | MS_REC), None) == 0:
        return
    if ctypes.get_errno() != 22:                    # EINVAL: not a mount point yet
        raise _fail(f"making {NETNS_DIR} shared")
    if _libc.mount(d, d, b"none", ctypes.c_ulong(MS_BIND | MS_REC), None) != 0:
        raise _fail(f"bind-mounting {NETNS_DIR}")
    if _libc.mount(b"", d, b"none", ctypes.c_ulong(MS_SHARED | MS_REC), None) != 0:
        raise _fail(f"making {NETNS_DIR} shared")


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise _fail(what)


class InNetns:
    """`with InNetns(name):` this thread in that network namespace, and
    back in its own afterwards (network namespaces are per thread: sockets
    made inside stay bound to it)."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.home = -1

    def __enter__(self) -> "InNetns":
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if self.name is None:
            if _libc.unshare(CLONE_NEWNET) != 0:
                os.close(self.home)
                raise _fail("unshare(CLONE_NEWNET)")
            return self
        try:
            fd = os.open(netns_path(self.name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(self.home)
            raise
        try:
            _setns(fd, f"entering netns {self.name}")
        except OSError:
            os.close(self.home)
            raise
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        try:
            # Failing here would leave this process in a container's stack:
            # every later host command would run there. Never go on so.
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                os.write(2, b"jocker: cannot return to the host network namespace\n")
                os._exit(125)
        finally:
            os.close(self.home)


def netns_add(name: str) -> None:
    """A new network namespace kept alive by a bind mount at
    /run/netns/<name> (what `ip netns add` does). Refuses an existing name."""
    path = netns_path(name)
    _share_netns_dir()
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    try:
        with InNetns():
            if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none",
                           ctypes.c_ulong(MS_BIND), None) != 0:
                raise _fail(f"mounting netns {name}")
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise


def netns_del(name: str) -> bool:
    """What `ip netns del` does: detach the bind mount, remove the file (the
    namespace goes with its last process). Already gone is fine: False when
    there was no mount to detach."""
    path = netns_path(name)
    detached = _libc.umount2(path.encode(), MNT_DETACH) == 0
    if not detached and ctypes.get_errno() not in (2, 22):
        raise _fail(f"unmounting netns {name}")      # ENOENT, EINVAL (not mounted): nothing to detach
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return detached


def links_remaining(names: list[str], timeout: float) -> list[str]:
    """Wait up to timeout seconds for the interfaces to go by themselves;
    those still there. A namespace the kernel cleans up takes its veths'
    peers with it in about a millisecond, where an RTM_DELLINK sent during
    that clean-up waits ~18 ms for it (measured on the workbench)."""
    import time
    deadline = time.monotonic() + timeout
    pause = 0.00025
    while True:
        left = [n for n in names if _exists(n)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(pause)
        pause = min(pause * 2, 0.002)


def _exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


# -- rtnetlink ------------------------------------------------------------------

def _attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("HH", size, kind) + payload + b"\0" * (-size % 4)


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


def _ifname(name: str) -> bytes:
    return name.encode() + b"\0"


def _mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


class Rtnl:
    """One NETLINK_ROUTE socket, in the network namespace of the thread
    that made it; each request waits for its acknowledgement."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes, what: str) -> None:
        self.seq += 1
        msg = struct.pack("IHHII", 16 + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0) + body
        self.sock.send(msg)
        port = self.sock.getsockname()[0]
        while True:
            data, (sender, _groups) = self.sock.recvfrom(65536)
            if sender != 0:
                continue        # from another process, not the kernel (iproute2 skips these too)
            off = 0
            while off + 16 <= len(data):
                size, mtype, _flags, seq, pid = struct.unpack_from("IHHII", data, off)
                if size < 16:
                    raise NetlinkError(0, f"{what}: malformed netlink answer")
                if mtype == NLMSG_ERROR and seq == self.seq and pid == port:
                    err = struct.unpack_from("i", data, off + 16)[0]
                    if err:
                        raise NetlinkError(-err, f"{what}: {os.strerror(-err)}")
                    return
                off += (size + 3) & ~3

    def veth_add(self, host: str, peer: str, peer_mac: str, peer_netns: str) -> None:
        """A veth pair: `host` here, `peer` (with its MAC) made directly in
        the named namespace, so it never meets the host's interfaces."""
        fd = os.open(netns_path(peer_netns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            peer_part = _ifinfo() + _attr(IFLA_IFNAME, _ifname(peer)) + _attr(IFLA_ADDRESS, _mac(peer_mac)) \
                + _attr(IFLA_NET_NS_FD, struct.pack("I", fd))
            info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_part))
            body = _ifinfo() + _attr(IFLA_IFNAME, _ifname(host)) + _attr(IFLA_LINKINFO, info)
            self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"creating veth {host}")
        finally:
            os.close(fd)

    def link_up(self, name: str, master: str | None = None) -> None:
        what = f"setting {name} up" + (f" in {master}" if master else "")
        try:
            index = socket.if_nametoindex(name)
            attrs = _attr(IFLA_MASTER, struct.pack("I", socket.if_nametoindex(master))) if master else b""
        except OSError as e:
            raise NetlinkError(e.errno, f"{what}: no such interface") from None
        self.request(RTM_NEWLINK, 0, _ifinfo(index, IFF_UP, IFF_UP) + attrs, what)

    def addr_add(self, dev: str, ip: str, prefixlen: int) -> None:
        what = f"adding {ip}/{prefixlen} to {dev}"
        try:
            index = socket.if_nametoindex(dev)
        except OSError as e:
            raise NetlinkError(e.errno, f"{what}: no such interface") from None
        packed = socket.inet_aton(ip)
        body = struct.pack("BBBBI", socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index) \
            + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, what)

    def default_route(self, gateway: str) -> None:
        body = struct.pack("BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                           RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) + _attr(RTA_GATEWAY, socket.inet_aton(gateway))
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, f"adding the default route via {gateway}")

    def link_del(self, name: str) -> None:
        """Delete an interface (a veth: both ends). Already gone is fine."""
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            return
        try:
            self.request(RTM_DELLINK, 0, _ifinfo(index), f"deleting {name}")
        except NetlinkError as e:
            if e.errno != 19:           # ENODEV: gone meanwhile
                raise
