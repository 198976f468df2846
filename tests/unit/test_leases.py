"""Leases of one process (the threads of `jocker serve`) are independent:
one lease never overwrites or ends another's."""

import os

from jocker.images.leases import Lease, leased


def test_two_leases_of_one_process_keep_each_others_images(tmp_path):
    rd = str(tmp_path)
    with Lease(rd) as a:
        a.add("sha256:" + "a" * 64)
        with Lease(rd) as b:
            b.add("sha256:" + "b" * 64)
            assert set(leased(rd)) == {"sha256:" + "a" * 64, "sha256:" + "b" * 64}
        assert set(leased(rd)) == {"sha256:" + "a" * 64}
        assert leased(rd)["sha256:" + "a" * 64] == os.getpid()
    assert leased(rd) == {}


def test_a_dead_process_lease_is_dropped_and_old_names_still_read(tmp_path):
    d = tmp_path / "leases"
    d.mkdir()
    (d / "999999999-1.json").write_text('["sha256:dead"]')      # no such pid
    (d / f"{os.getpid()}.json").write_text('["sha256:old"]')    # the pre-upgrade name
    assert leased(str(tmp_path)) == {"sha256:old": os.getpid()}
    assert not (d / "999999999-1.json").exists()
