"""Scale (issue 9, item 15): `image prune` is one read of the store plus one
destroy per object, however many images it removes (it used to read the
whole store again after every deletion). Counted from JOCKER_TRACE."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.reliability


def test_image_prune_reads_once(jocker, busybox_rootfs, tmp_path):
    for _ in range(5):
        jocker("import", busybox_rootfs)            # untagged: dangling images
    dangling = jocker("images", "-q", "--filter", "dangling=true").stdout.split()
    assert len(dangling) >= 5
    trace = tmp_path / "trace"
    out = jocker("image", "prune", "-f", env={"JOCKER_TRACE": str(trace)}).stdout
    cmds = [l.split("\t", 1)[1] for l in trace.read_text().splitlines()]
    reads = [c for c in cmds if c.startswith("zfs get")]
    destroys = [c for c in cmds if c.startswith("zfs destroy")]
    assert len(reads) == 1, cmds
    assert len(destroys) == out.count("eleted: ")  # one per image or layer removed
    assert jocker("images", "-q", "--filter", "dangling=true").stdout == ""


def _build_reads(jocker, tmp_path, busybox_image, steps: int, tag: str) -> int:
    ctx = tmp_path / tag
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\n" +
                                    "".join(f"ENV V{i}={tag}{i}\n" for i in range(steps)))
    trace = tmp_path / f"{tag}.trace"
    jocker("build", "-q", "-t", f"{tag}:1", str(ctx), env={"JOCKER_TRACE": str(trace)})
    return sum(1 for l in trace.read_text().splitlines() if "\tzfs get" in l)


def test_metadata_steps_read_nothing(jocker, busybox_image, tmp_path):
    """A metadata-only step (ENV) costs no store read beyond the first: a
    build of 12 such steps reads the store as often as one of 2."""
    try:
        few = _build_reads(jocker, tmp_path, busybox_image, 2, "few")
        many = _build_reads(jocker, tmp_path, busybox_image, 12, "many")
        assert many == few, (few, many)
    finally:
        jocker("rmi", "few:1", "many:1", check=False)
        jocker("image", "prune", "-f")
