"""Who may have a fork-server fork for them: the peer's uid from the kernel
(Linux SO_PEERCRED, FreeBSD LOCAL_PEERCRED's struct xucred), never from
what the client says."""

from __future__ import annotations

import os
import socket
import struct

from jocker import forkbase


def _xucred(uid: int, version: int = 0) -> bytes:
    groups = struct.pack("=16I", *([0] * 16))
    # cr_version, cr_uid, cr_ngroups (+2 pad), cr_groups[16], 4 pad, the cr_pid union (8)
    return struct.pack("=IIhxx", version, uid, 1) + groups + struct.pack("=xxxxQ", 1234)


def test_xucred_uid_reads_cr_uid_and_refuses_unknown_layouts():
    raw = _xucred(1001)
    assert len(raw) == forkbase.XUCRED_SIZE
    assert forkbase.xucred_uid(raw) == 1001
    assert forkbase.xucred_uid(_xucred(0, version=7)) is None
    assert forkbase.xucred_uid(b"\0\0") is None


class _FakeFreeBSDConn:
    def __init__(self, raw):
        self.raw = raw
        self.asked = None

    def getsockopt(self, level, opt, size):
        self.asked = (level, opt, size)
        return self.raw


def test_freebsd_peer_of_another_user_is_refused(monkeypatch):
    monkeypatch.delattr(socket, "SO_PEERCRED", raising=False)
    monkeypatch.setattr(forkbase.sys, "platform", "freebsd14")
    other = _FakeFreeBSDConn(_xucred(os.geteuid() + 1))
    assert forkbase.peer_refusal(other) == "other-user"
    assert other.asked == (0, 1, forkbase.XUCRED_SIZE)          # SOL_LOCAL, LOCAL_PEERCRED
    assert forkbase.peer_refusal(_FakeFreeBSDConn(_xucred(os.geteuid()))) == ""
    assert forkbase.peer_refusal(_FakeFreeBSDConn(_xucred(os.geteuid(), version=3))) == "unknown-peer"


def test_linux_peer_is_this_process_itself():
    a, b = socket.socketpair(socket.AF_UNIX)
    try:
        assert forkbase.peer_refusal(a) == ""
    finally:
        a.close()
        b.close()
