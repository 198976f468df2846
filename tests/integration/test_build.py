"""`jocker build` end to end: the real CLI, real ZFS, the busybox base image.

Every test removes the images it built (see `cleanup_images`), so the
session's leak check sees no dataset left behind.
"""

from __future__ import annotations

import functools
import io
import json
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

# Until `build` is in jocker.cli.main.COMMANDS, register it on the fly: same CLI otherwise.
ARROW = re.compile(r"^ ---> ([0-9a-f]{12})$", re.M)


@pytest.fixture
def build(jocker):
    def run(*args, input=None, check=True, cwd=None, timeout=300):
        proc = subprocess.run([sys.executable, "-m", "jocker", "build", *map(str, args)], input=input,
                              capture_output=True, text=True, env=jocker.env, cwd=cwd, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"jocker build {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc
    return run


def _all_image_ids(jocker) -> set[str]:
    return set(jocker("images", "-a", "-q", "--no-trunc").stdout.split())


@pytest.fixture(autouse=True)
def cleanup_images(jocker, busybox_image):
    """Remove every image this test created (tagged, intermediate or dangling),
    children before parents."""
    before = _all_image_ids(jocker)
    yield
    for _ in range(50):
        left = _all_image_ids(jocker) - before
        if not left:
            return
        for iid in left:
            jocker("rmi", "-f", iid, check=False)
    pytest.fail(f"could not remove images {sorted(left)}")


def _inspect(jocker, ref) -> dict:
    return json.loads(jocker("inspect", ref).stdout)[0]


def _context(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return ctx


def _steps(out: str) -> list[str]:
    return re.findall(r"^Step \d+/\d+ : .*$", out, re.M)


BASIC = """\
FROM busybox
MAINTAINER Ms. Nobody <nobody@example.com>
ENV GREETING=hello
WORKDIR /app
COPY hello.txt .
RUN echo "$GREETING from RUN" && cat hello.txt > out.txt
CMD ["cat", "/app/out.txt"]
"""


def test_build_output_files_and_cache(build, jocker, tmp_path):
    ctx = _context(tmp_path, BASIC, {"hello.txt": "hi there\n"})
    first = build("-t", "bt-basic:1", ctx)
    out = first.stdout
    assert out.startswith("Sending build context to jocker  ")
    assert _steps(out) == [f"Step {i}/7 : {line}" for i, line in enumerate(BASIC.splitlines(), 1)]
    assert "hello from RUN\n" in out                       # the command's own output, streamed
    running = re.findall(r"^ ---> Running in ([0-9a-f]{12})$", out, re.M)
    removed = re.findall(r"^Removing intermediate container ([0-9a-f]{12})$", out, re.M)
    assert len(running) == 6 and running == removed         # every step but FROM
    built = re.search(r"^Successfully built ([0-9a-f]{12})$", out, re.M).group(1)
    assert out.rstrip().endswith("Successfully tagged bt-basic:1")
    assert ARROW.findall(out)[-1] == built
    row = jocker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert f"bt-basic:1 {built}" in row
    # The files really changed: a container from the image sees them.
    assert jocker("run", "--rm", "bt-basic:1").stdout == "hi there\n"
    assert jocker("run", "--rm", "bt-basic:1", "cat", "/app/hello.txt").stdout == "hi there\n"

    # The same build again: every step from cache, the same image.
    again = build("-t", "bt-basic:1", ctx).stdout
    assert again.count(" ---> Using cache") == 6 and "Running in" not in again
    assert re.search(r"^Successfully built ([0-9a-f]{12})$", again, re.M).group(1) == built

    # Change step 6: steps 2-5 stay cached, 6 and 7 run again.
    (ctx / "Dockerfile").write_text(BASIC.replace("from RUN", "from RUN, changed"))
    changed = build("-t", "bt-basic:2", ctx).stdout
    blocks = re.split(r"^Step \d+/7 : ", changed, flags=re.M)[1:]
    assert [("Using cache" in b) for b in blocks] == [False, True, True, True, True, False, False]
    assert "hello from RUN, changed" in changed

    # --no-cache runs everything again and makes new images.
    fresh = build("--no-cache", "-t", "bt-basic:3", ctx).stdout
    assert "Using cache" not in fresh
    assert re.search(r"^Successfully built ([0-9a-f]{12})$", fresh, re.M).group(1) != built


def test_changed_context_file_invalidates_copy(build, jocker, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nENV A=1\nCOPY data.txt /data.txt\nRUN cat /data.txt\n",
                   {"data.txt": "one\n"})
    build("-t", "bt-ctx", ctx)
    (ctx / "data.txt").write_text("two\n")
    out = build("-t", "bt-ctx", ctx).stdout
    blocks = re.split(r"^Step \d+/4 : ", out, flags=re.M)[1:]
    assert [("Using cache" in b) for b in blocks] == [False, True, False, False]
    assert jocker("run", "--rm", "bt-ctx", "cat", "/data.txt").stdout == "two\n"


def test_failing_run_stops_and_leaves_nothing(build, jocker, jocker_env, tmp_path, zfs_names):
    before = zfs_names()
    images_before = _all_image_ids(jocker)
    ctx = _context(tmp_path, "FROM busybox\nENV A=1\nRUN echo partial > /f && false\nRUN echo never\n")
    proc = build("-t", "bt-fail", ctx, check=False)
    assert proc.returncode == 1
    assert "The command '/bin/sh -c echo partial > /f && false' returned a non-zero code: 1" in proc.stderr
    assert "Step 4/4" not in proc.stdout and "Successfully" not in proc.stdout
    assert jocker("inspect", "bt-fail", check=False).returncode != 0        # nothing tagged
    # The ENV step's image stays as cache (as in Docker); remove it and nothing is left.
    for iid in _all_image_ids(jocker) - images_before:
        jocker("rmi", iid)
    assert zfs_names() == before
    assert not [p for g in ("build-*", "oneshot-*") for p in Path(jocker_env["JOCKER_RUNDIR"]).glob(g)]


def test_metadata_steps_and_noop_run_make_no_layer(build, jocker, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nENV A=b\nLABEL x=y\nRUN true\nEXPOSE 80\n")
    out = build("-t", "bt-meta", ctx).stdout
    base = _inspect(jocker, "busybox:latest")
    img = _inspect(jocker, "bt-meta")
    assert img["GraphDriver"]["Data"]["Dataset"] == base["GraphDriver"]["Data"]["Dataset"]
    assert img["RootFS"]["Layers"] == base["RootFS"]["Layers"]
    ids = ARROW.findall(out)
    for iid in ids[1:]:
        assert _inspect(jocker, iid)["GraphDriver"]["Data"]["Dataset"] == base["GraphDriver"]["Data"]["Dataset"]
    assert img["Parent"].startswith("sha256:") and img["Parent"][7:19] == ids[-2]
    # Intermediate images are hidden from `images`, shown with -a.
    listed = jocker("images", "-q").stdout.split()
    assert ids[-1] in listed and ids[1] not in listed
    assert ids[1] in jocker("images", "-a", "-q").stdout.split()


def test_env_workdir_user_affect_later_runs(build, jocker, tmp_path):
    ctx = _context(tmp_path, """\
FROM busybox
ENV GREETING=hello NAME=world
WORKDIR /srv/app
WORKDIR sub
RUN echo "$GREETING $NAME" > msg && pwd > where
USER nobody
RUN id -u > /tmp/uid
USER root
RUN cp /tmp/uid /srv/uid
""")
    build("-t", "bt-env", ctx)
    assert jocker("run", "--rm", "bt-env", "cat", "/srv/app/sub/msg").stdout == "hello world\n"
    assert jocker("run", "--rm", "bt-env", "cat", "/srv/app/sub/where").stdout == "/srv/app/sub\n"
    assert jocker("run", "--rm", "bt-env", "cat", "/srv/uid").stdout == "65534\n"


def test_final_config_in_inspect(build, jocker, tmp_path):
    ctx = _context(tmp_path, """\
FROM busybox
ENV PATH=/usr/local/bin:/bin:/usr/bin FOO="bar baz"
LABEL org.example.name="web app" version=1
EXPOSE 80 53/udp
VOLUME ["/data", "/logs"]
WORKDIR /srv
USER nobody
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
""")
    out = build("-t", "bt-config", "--label", "built-by=test", ctx).stdout
    steps = re.findall(r"^Step (\d+)/(\d+) : (.*)$", out, flags=re.M)
    assert steps[-1] == (steps[-1][1], steps[-1][1], 'LABEL "built-by"="test"')   # Docker's extra step
    cfg = _inspect(jocker, "bt-config")["Config"]
    assert cfg["Cmd"] == ["echo hi"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert "FOO=bar baz" in cfg["Env"] and "PATH=/usr/local/bin:/bin:/usr/bin" in cfg["Env"]
    assert cfg["WorkingDir"] == "/srv"
    assert cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}}
    assert cfg["Labels"] == {"org.example.name": "web app", "version": "1", "built-by": "test"}
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
                                  "Interval": 30 * 10**9, "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo triggered"]
    history = jocker("history", "--no-trunc", "bt-config").stdout
    assert '/bin/sh -c #(nop)  CMD ["echo hi"]' in history
    assert "/bin/sh -c #(nop)  ENV PATH=/usr/local/bin:/bin:/usr/bin FOO=bar baz" in history


def test_onbuild_triggers_run_in_child_build(build, jocker, tmp_path):
    base = _context(tmp_path / "base", "FROM busybox\nONBUILD COPY msg.txt /msg\nONBUILD RUN cat /msg\n")
    build("-t", "bt-onbuild-base", base)
    child = _context(tmp_path / "child", "FROM bt-onbuild-base\nCMD [\"cat\", \"/msg\"]\n",
                     {"msg.txt": "from the child context\n"})
    out = build("-t", "bt-onbuild-child", child).stdout
    assert "# Executing 2 build triggers" in out
    assert "from the child context" in out
    assert jocker("run", "--rm", "bt-onbuild-child").stdout == "from the child context\n"
    assert not _inspect(jocker, "bt-onbuild-child")["Config"].get("OnBuild")   # not inherited


def test_multistage_copy_from_and_target(build, jocker, tmp_path):
    ctx = _context(tmp_path, """\
FROM busybox AS builder
RUN mkdir -p /out && echo built > /out/artifact && ln -s artifact /out/link
FROM busybox AS second
COPY --from=builder /out/artifact /from-name
COPY --from=0 /out/ /from-index/
COPY --from=busybox:latest /etc/passwd /from-image-passwd
FROM second
RUN echo final > /final
""")
    out = build("-t", "bt-multi", ctx).stdout
    assert len(_steps(out)) == 8 and "Step 8/8 : RUN echo final > /final" in out
    run = functools.partial(jocker, "run", "--rm", "bt-multi")
    assert run("cat", "/from-name").stdout == "built\n"
    assert run("cat", "/from-index/artifact").stdout == "built\n"
    assert run("readlink", "/from-index/link").stdout == "artifact\n"
    assert run("cat", "/from-image-passwd").stdout.startswith("root:")
    assert run("cat", "/final").stdout == "final\n"
    # The builder stage's image stays untagged.
    tags = jocker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "bt-multi:latest" in tags

    target = build("--target", "second", "-t", "bt-multi-second", ctx).stdout
    assert re.findall(r"^Step \d+/(\d+)", target, re.M)[0] == "6" and "RUN echo final" not in target
    assert "Using cache" in target
    assert jocker("run", "--rm", "bt-multi-second", "cat", "/final", check=False).returncode != 0


def test_dockerignore_and_outside_context(build, jocker, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nCOPY . /ctx/\n",
                   {".dockerignore": "secret.txt\n*.log\n", "keep.txt": "k", "secret.txt": "s",
                    "debug.log": "d", "sub/also.txt": "a"})
    build("-t", "bt-ignore", ctx)
    listing = jocker("run", "--rm", "bt-ignore", "find", "/ctx").stdout.split()
    assert "/ctx/keep.txt" in listing and "/ctx/sub/also.txt" in listing
    assert "/ctx/secret.txt" not in listing and "/ctx/debug.log" not in listing

    (tmp_path / "outside.txt").write_text("no")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY ../outside.txt /x\n")
    proc = build("-t", "bt-outside", ctx, check=False)
    assert proc.returncode == 1
    assert "outside the build context" in proc.stderr and proc.stderr.startswith("Error: ")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secret.txt /x\n")
    proc = build(ctx, check=False)
    assert proc.returncode == 1 and "COPY failed: file not found in build context or excluded by .dockerignore" in proc.stderr


def test_stdin_dockerfile_and_quiet(build, jocker, tmp_path):
    out = build("-t", "bt-stdin", "-", input="FROM busybox\nRUN echo from-stdin > /s\n").stdout
    assert "Step 2/2 : RUN echo from-stdin > /s" in out
    assert jocker("run", "--rm", "bt-stdin", "cat", "/s").stdout == "from-stdin\n"

    quiet = build("-q", "-t", "bt-quiet", "-", input="FROM busybox\nRUN echo loud\nENV Q=1\n").stdout
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet)
    assert _inspect(jocker, "bt-quiet")["Id"] == quiet.strip()

    failed = build("-q", "-", input="FROM busybox\nRUN echo explain; exit 3\n", check=False)
    assert failed.returncode == 1 and failed.stdout == ""   # current Docker (BuildKit) exits 1
    assert "explain" in failed.stderr and "returned a non-zero code: 3" in failed.stderr


def test_build_args(build, jocker, tmp_path):
    ctx = _context(tmp_path, """\
ARG BASE=busybox
FROM ${BASE}
ARG VERSION=1.0
ARG UNSET
ENV FROM_ARG=v${VERSION}
RUN echo "version=$VERSION unset=${UNSET:-none}" > /v
""")
    build("-t", "bt-args", ctx)
    assert jocker("run", "--rm", "bt-args", "cat", "/v").stdout == "version=1.0 unset=none\n"
    out = build("-t", "bt-args", "--build-arg", "VERSION=2.5", "--build-arg", "EXTRA=1", ctx).stdout
    assert "[Warning] One or more build-args [EXTRA] were not consumed" in out
    assert jocker("run", "--rm", "bt-args", "cat", "/v").stdout == "version=2.5 unset=none\n"
    cfg = _inspect(jocker, "bt-args")["Config"]
    assert "FROM_ARG=v2.5" in cfg["Env"] and not any(e.startswith("VERSION=") for e in cfg["Env"])
    history = jocker("history", "--no-trunc", "bt-args").stdout
    assert "|1 VERSION=2.5 /bin/sh -c echo" in history


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_add_tar_and_url(build, jocker, tmp_path, http_root):
    www, url = http_root
    (www / "remote.txt").write_text("downloaded\n")
    ctx = _context(tmp_path, f"FROM busybox\nADD bundle.tar.gz /opt/\nADD {url}/remote.txt /dl/\n"
                   "COPY bundle.tar.gz /copied/\n",
                   {"bundle.tar.gz": _tarball({"pkg/a.txt": b"A\n", "pkg/b.txt": b"B\n"})})
    build("-t", "bt-add", ctx)
    run = functools.partial(jocker, "run", "--rm", "bt-add")
    assert run("cat", "/opt/pkg/a.txt").stdout == "A\n"
    assert run("cat", "/dl/remote.txt").stdout == "downloaded\n"
    assert run("ls", "/copied").stdout == "bundle.tar.gz\n"      # COPY never extracts
    # A changed download is a cache miss for that step.
    (www / "remote.txt").write_text("changed\n")
    out = build("-t", "bt-add", ctx).stdout
    blocks = re.split(r"^Step \d+/4 : ", out, flags=re.M)[1:]
    assert [("Using cache" in b) for b in blocks] == [False, True, False, False]
    assert run("cat", "/dl/remote.txt").stdout == "changed\n"


def test_scratch_and_chown(build, jocker, tmp_path):
    ctx = _context(tmp_path, "FROM scratch\nENV A=1\nCOPY hello /hello\nCMD [\"/hello\"]\n",
                   {"hello": "not really a program\n"})
    out = build("-t", "bt-scratch", ctx).stdout
    img = _inspect(jocker, "bt-scratch")
    assert len(img["RootFS"]["Layers"]) == 1 and img["Config"]["Cmd"] == ["/hello"]
    assert "Step 1/4 : FROM scratch" in out
    again = build("-t", "bt-scratch", ctx).stdout
    assert again.count("Using cache") == 3

    ctx2 = _context(tmp_path / "c2", "FROM busybox\nCOPY --chown=nobody:nogroup f /owned\n"
                    "COPY --chown=1234 f /numeric\nCOPY --chmod=0600 f /private\n", {"f": "x"})
    build("-t", "bt-chown", ctx2)
    stat = jocker("run", "--rm", "bt-chown", "stat", "-c", "%n %u:%g %a", "/owned", "/numeric",
                  "/private").stdout.splitlines()
    assert stat == ["/owned 65534:65534 644", "/numeric 1234:1234 644", "/private 0:0 600"]


def test_tarball_context_and_dockerfile_flag(build, jocker, tmp_path):
    tar = tmp_path / "ctx.tar"
    with tarfile.open(tar, "w") as t:
        for name, data in {"build/Dockerfile.alt": b"FROM busybox\nCOPY data /data\n", "data": b"tar\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    build("-f", "build/Dockerfile.alt", "-t", "bt-tar", tar)
    assert jocker("run", "--rm", "bt-tar", "cat", "/data").stdout == "tar\n"
    # An absolute -f outside the context, as Docker allows.
    ctx = _context(tmp_path, "unused", {"data": "dir\n"})
    elsewhere = tmp_path / "Dockerfile.outside"
    elsewhere.write_text("FROM busybox\nCOPY data /data\n")
    build("-f", elsewhere, "-t", "bt-tar", ctx)
    assert jocker("run", "--rm", "bt-tar", "cat", "/data").stdout == "dir\n"


def test_dockerfile_errors_exit_1(build, tmp_path):
    proc = build("-", input="FROM busybox\nBOGUS x\n", check=False)
    assert proc.returncode == 1 and "unknown instruction: BOGUS" in proc.stderr
    proc = build("-", input="FROM no-such-image:1\n", check=False)
    assert proc.returncode == 1 and "no-such-image:1" in proc.stderr
    proc = build("-t", "Bad Tag", "-", input="FROM busybox\n", check=False)
    assert proc.returncode == 125


def _start_build(jocker, ctx):
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "build", str(ctx)], env=jocker.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("started"):
            return proc
    raise AssertionError(f"the build did not start: {proc.stderr.read()}")


def test_interrupted_build_cleans_up(build, jocker, jocker_env, tmp_path, zfs_names):
    """SIGTERM in the middle of a RUN: the build container is killed and the
    step's layer goes at once. SIGKILL: the next build's garbage collection
    removes what was left."""
    before = zfs_names()
    ctx = _context(tmp_path / "term", "FROM busybox\nRUN echo started && sleep 60 && echo done\n")
    proc = _start_build(jocker, ctx)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert time.monotonic() - start < 10                     # not the 60 s of the RUN
    assert zfs_names() == before
    assert not [p for g in ("build-*", "oneshot-*") for p in Path(jocker_env["JOCKER_RUNDIR"]).glob(g)]

    ctx = _context(tmp_path / "kill", "FROM busybox\nRUN echo started && sleep 2 && echo done\n")
    proc = _start_build(jocker, ctx)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(2.5)          # the orphaned RUN finishes on its own
    assert zfs_names() != before                   # a pending layer is left...
    build("-", input="FROM busybox\n")                       # ...until the next build collects it
    assert zfs_names() == before
    assert not [p for g in ("build-*", "oneshot-*") for p in Path(jocker_env["JOCKER_RUNDIR"]).glob(g)]


def test_network_none(build, jocker):
    out = build("--network", "none", "-t", "bt-net", "-",
                input="FROM busybox\nRUN grep -c : /proc/net/dev > /ifaces\n").stdout
    assert "Successfully tagged bt-net:latest" in out
    # In its own network stack the build container sees only the loopback interface.
    assert jocker("run", "--rm", "bt-net", "cat", "/ifaces").stdout == "1\n"


def test_etc_hosts_mounted_not_committed(build, jocker, engine):
    """RUN sees generated /etc/hosts and /etc/hostname (mounted over the
    image's files, as Docker does); they never end up in a layer."""
    build("-t", "bt-hosts", "-", input="FROM busybox\nRUN touch /etc/hosts /etc/hostname\n"
          "RUN cat /etc/hosts /etc/hostname > /seen\n")
    img = _inspect(jocker, "bt-hosts")
    assert len(img["RootFS"]["Layers"]) == 3            # busybox, the touch, /seen
    layer = img["GraphDriver"]["Data"]["Dataset"].rsplit("/", 1)[1]
    with engine.store.layer_mounted(layer) as root:
        assert "localhost" in Path(root, "seen").read_text()
        assert Path(root, "etc/hosts").stat().st_size == 0
        assert Path(root, "etc/hostname").stat().st_size == 0


def test_default_path_f_relative_to_cwd_and_f_stdin(build, jocker, tmp_path):
    """Review findings: a stage gets Docker's default PATH when its base has
    none (so ENV PATH=$PATH:/x keeps /bin), a relative -f is relative to the
    current directory, and -f - reads the Dockerfile from stdin."""
    ctx = _context(tmp_path, "FROM busybox\nENV PATH=$PATH:/opt/bin\nRUN echo ok > /ok\n")
    build("-t", "bt-path", ctx)
    env = _inspect(jocker, "bt-path")["Config"]["Env"]
    assert any(e.startswith("PATH=/usr/local/sbin:") and e.endswith(":/opt/bin") for e in env)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "Dockerfile.alt").write_text("FROM busybox\nRUN echo alt > /alt\n")
    build("-f", "elsewhere/Dockerfile.alt", "-t", "bt-cwd", ctx, cwd=tmp_path)
    assert jocker("run", "--rm", "bt-cwd", "cat", "/alt").stdout == "alt\n"
    out = build("-f", "-", "-t", "bt-fstdin", ctx, input="FROM busybox\nRUN echo stdin > /s\n")
    assert out.returncode == 0
    assert jocker("run", "--rm", "bt-fstdin", "cat", "/s").stdout == "stdin\n"


def test_dangling_excludes_intermediates_and_df_reclaims_unused_layers(build, jocker, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two\n")
    build("-t", "bt-dangle", ctx)
    intermediates = set(jocker("images", "-a", "-q", "--no-trunc").stdout.split()) - \
        set(jocker("images", "-q", "--no-trunc").stdout.split())
    assert intermediates                  # the RUN steps' parents
    dangling = set(jocker("images", "-a", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split())
    assert not (dangling & intermediates)
    if not jocker("ps", "-aq").stdout.strip():      # nothing in use: everything is reclaimable
        size, reclaim = jocker("system", "df", "--format", "{{.Size}} {{.Reclaimable}}").stdout.split()[:2]
        assert size == reclaim
