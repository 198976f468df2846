"""Detach keys: Docker's key syntax and the scanner that holds back a
partial sequence and releases it when the sequence breaks."""

from __future__ import annotations

import pytest

from jocker.containers.detachkeys import Scanner, configured, for_client, parse
from jocker.errors import UsageError


def test_parse_docker_syntax():
    assert parse(None) == parse("") == b"\x10\x11"
    assert parse("ctrl-a,X") == b"\x01X"
    assert parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes([0, 27, 28, 29, 30, 31])
    assert parse("CTRL-Q") == b"\x11"
    for bad in ("ctrl-1", "alt-x", "ctrl-", "é,x"):
        with pytest.raises(UsageError) as e:
            parse(bad)
        assert "invalid detach keys" in str(e.value) and "\n" not in str(e.value)


def test_scanner_detaches_and_loses_nothing():
    s = Scanner(b"\x10\x11")
    assert s.feed(b"ls\r") == (b"ls\r", False)
    assert s.feed(b"a\x10") == (b"a", False)          # held back: may be the start
    assert s.feed(b"b") == (b"\x10b", False)          # it was not: released
    assert s.feed(b"\x10\x10") == (b"\x10", False)    # a repeat restarts the match
    assert s.feed(b"\x11rest") == (b"", True)         # detached; what follows is not sent
    s = Scanner(b"\x10\x11")
    assert s.feed(b"x\x10\x11") == (b"x", True)


def test_scanner_longer_sequence_split_across_reads():
    s = Scanner(parse("ctrl-x,y,z"))
    assert s.feed(b"\x18") == (b"", False)
    assert s.feed(b"y") == (b"", False)
    assert s.feed(b"q") == (b"\x18yq", False)
    assert s.feed(b"\x18y") == (b"", False)
    assert s.feed(b"z") == (b"", True)


def test_keys_from_the_docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert configured() is None and for_client(None) == b"\x10\x11"
    (tmp_path / "config.json").write_text('{"auths": {}, "detachKeys": "ctrl-x,x"}')
    assert configured() == "ctrl-x,x"
    assert for_client(None) == b"\x18x" and for_client("ctrl-a") == b"\x01"   # the flag wins
    (tmp_path / "config.json").write_text("not json")
    assert configured() is None
