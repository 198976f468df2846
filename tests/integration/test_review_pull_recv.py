"""Review of s4-pull: `zfs receive` fed by a pipe runs as long as the sender
does, and can finish before the layer's bytes in the jocker stream end."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from test_zfs_ship import host2  # noqa: F401 - the fixture


def _sent(jocker_env, image) -> tuple[bytes, int, dict]:
    """(send output, where the header ends, the header)."""
    data = subprocess.run([sys.executable, "-m", "jocker", "image", "send", "--no-blobs", image],
                          env=jocker_env, capture_output=True, check=True).stdout
    eol = data.index(b"\n", data.index(b"\n") + 1)
    body = eol + 1 + int(data[data.index(b"\n") + 1:eol])
    return data, body, json.loads(data[eol + 1:body])


def _datasets(env) -> str:
    return subprocess.run(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name", env["JOCKER_DATASET"]],
                          capture_output=True, text=True).stdout


def test_a_prune_during_a_slow_receive_leaves_it_alone(jocker_env, busybox_image, host2):  # noqa: F811
    """The half-received layer is visible (zfs-fuse) while the sender is
    slow; a concurrent prune must not break the receive."""
    data, body, header = _sent(jocker_env, busybox_image)
    half = body + header["layers"][0]["size"] // 2
    recv = subprocess.Popen([sys.executable, "-m", "jocker", "image", "receive"], stdin=subprocess.PIPE,
                            env=host2, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    recv.stdin.write(data[:half])
    recv.stdin.flush()
    time.sleep(2)
    subprocess.run([sys.executable, "-m", "jocker", "system", "prune", "-f"], env=host2, capture_output=True)
    recv.stdin.write(data[half:])
    _, err = recv.communicate(timeout=120)
    assert recv.returncode == 0, err
    subprocess.run([sys.executable, "-m", "jocker", "rmi", "-f", busybox_image], env=host2, capture_output=True)
    subprocess.run([sys.executable, "-m", "jocker", "image", "prune", "-f"], env=host2, capture_output=True)


def test_a_stream_cut_after_zfs_receive_finished_leaves_nothing(jocker_env, busybox_image, host2):  # noqa: F811
    """The header gives the layer 100 bytes more than its ZFS stream and the
    stream ends 50 bytes into them: `zfs receive` has finished (it stops at
    its END record) when the cut is found. The received layer must go too."""
    start = _datasets(host2)
    data, body, header = _sent(jocker_env, busybox_image)
    size = header["layers"][0]["size"]
    header["layers"][0]["size"] = size + 100
    text = json.dumps(header).encode()
    stream = b"JOCKER-ZFS-IMAGE 1\n" + str(len(text)).encode() + b"\n" + text
    stream += data[body:body + size] + b"\0" * 50
    res = subprocess.run([sys.executable, "-m", "jocker", "image", "receive"], input=stream,
                         env=host2, capture_output=True)
    assert res.returncode != 0 and b"ended early" in res.stderr, res.stderr
    assert _datasets(host2) == start
