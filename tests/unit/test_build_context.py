"""Tests for the build context (jocker.builder.context): real files under tmp_path."""

import gzip
import io
import os
import stat
import tarfile

import pytest

from jocker.builder.context import (BuildContext, Source, download, is_archive, is_url,
                                  resolve_in_root)
from jocker.errors import BuildError, UsageError

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for chown")


def write(root, rel, data="x", mode=None):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    if mode is not None:
        p.chmod(mode)
    return p


@pytest.fixture
def ctxdir(tmp_path):
    d = tmp_path / "ctx"
    write(d, "Dockerfile", "FROM scratch\n")
    write(d, "a.txt", "alpha")
    write(d, "b.txt", "beta")
    write(d, "app/main.py", "print(1)\n", 0o755)
    write(d, "app/lib/util.py", "u")
    write(d, "app/cache/x.pyc", "pyc")
    return d


def rels(sources):
    return [s.relpath for s in sources]


def tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = "link" if os.path.islink(p) else (
                "dir" if os.path.isdir(p) else open(p).read())
    return out


# --- Dockerfile ----------------------------------------------------------------

def test_dockerfile_default_relative_and_absolute(ctxdir, tmp_path):
    ctx = BuildContext.from_directory(str(ctxdir))
    assert ctx.dockerfile_text() == "FROM scratch\n"
    write(ctxdir, "sub/Other.df", "FROM a\n")
    assert ctx.dockerfile_text("sub/Other.df") == "FROM a\n"
    outside = write(tmp_path, "elsewhere/Dockerfile", "FROM b\n")
    assert ctx.dockerfile_text(str(outside)) == "FROM b\n"


def test_dockerfile_missing(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    with pytest.raises(UsageError, match="cannot locate Dockerfile: .*nope"):
        ctx.dockerfile_text("nope")


def test_dockerfile_lowercase_fallback(tmp_path):
    write(tmp_path, "dockerfile", "FROM low\n")
    assert BuildContext(str(tmp_path)).dockerfile_text() == "FROM low\n"


def test_ignored_dockerfile_is_readable_but_not_copied(ctxdir):
    write(ctxdir, ".dockerignore", "Dockerfile\n.dockerignore\n")
    ctx = BuildContext.from_directory(str(ctxdir))
    assert ctx.dockerfile_text().startswith("FROM")
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        ctx.resolve_sources(["Dockerfile"])
    root = ctx.resolve_sources(["."])
    assert root[0].kind == "dir"
    names = [r for r, _, _ in ctx._walk(root[0])]
    assert "Dockerfile" not in names and ".dockerignore" not in names and "a.txt" in names


def test_missing_context_dir(tmp_path):
    with pytest.raises(UsageError, match="unable to prepare context"):
        BuildContext.open(str(tmp_path / "none"), tmpdir=str(tmp_path / "scratch"))


# --- sources -------------------------------------------------------------------

def test_plain_and_rooted_sources(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    got = ctx.resolve_sources(["a.txt", "/app", "./app/../b.txt"])
    assert rels(got) == ["a.txt", "app", "b.txt"]
    assert [s.kind for s in got] == ["file", "dir", "file"]
    assert got[1].path == os.path.realpath(ctxdir / "app")


def test_parent_escape_refused(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    for bad in ("../x", "app/../../x", ".."):
        with pytest.raises(BuildError, match="outside the build context"):
            ctx.resolve_sources([bad])
    # "/.." is clamped at the context root, as Docker does
    assert rels(ctx.resolve_sources(["/../a.txt"])) == ["a.txt"]


def test_symlink_escape_refused(ctxdir):
    os.symlink("/etc", ctxdir / "etc")
    os.symlink("/etc/passwd", ctxdir / "passwd")
    os.symlink("a.txt", ctxdir / "inside")
    ctx = BuildContext.from_directory(str(ctxdir))
    for bad in ("etc", "etc/passwd", "passwd"):
        with pytest.raises(BuildError, match="outside the build context"):
            ctx.resolve_sources([bad])
    src = ctx.resolve_sources(["inside"])[0]
    assert src.relpath == "inside" and src.path == os.path.realpath(ctxdir / "a.txt")


def test_wildcards(ctxdir):
    write(ctxdir, "app/c.txt", "c")
    ctx = BuildContext.from_directory(str(ctxdir))
    assert rels(ctx.resolve_sources(["*.txt"])) == ["a.txt", "b.txt"]
    assert rels(ctx.resolve_sources(["app/*.txt"])) == ["app/c.txt"]
    assert rels(ctx.resolve_sources(["?.txt", "a.txt"])) == ["a.txt", "b.txt"]
    assert rels(ctx.resolve_sources(["[b-z].txt"])) == ["b.txt"]
    assert rels(ctx.resolve_sources(["*/main.py"])) == ["app/main.py"]
    with pytest.raises(BuildError, match="no source files were specified"):
        ctx.resolve_sources(["*.nothing"])


def test_missing_source(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    with pytest.raises(BuildError, match="file not found in build context"):
        ctx.resolve_sources(["nope.txt"])


def test_dockerignore_hides_sources(ctxdir):
    write(ctxdir, ".dockerignore", "*.txt\n!b.txt\n**/*.pyc\n")
    ctx = BuildContext.from_directory(str(ctxdir))
    assert rels(ctx.resolve_sources(["*.txt"])) == ["b.txt"]
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        ctx.resolve_sources(["a.txt"])
    with pytest.raises(BuildError, match="no source files were specified"):
        ctx.resolve_sources(["app/cache/*.pyc"])


def test_excluded_dir_with_exception(ctxdir):
    write(ctxdir, ".dockerignore", "app\n!app/lib\n")
    ctx = BuildContext.from_directory(str(ctxdir))
    src = ctx.resolve_sources(["app"])[0]
    assert [r for r, _, _ in ctx._walk(src)] == ["lib", "lib/util.py"]


# --- hashing -------------------------------------------------------------------

def test_hash_stable_and_sensitive(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    srcs = ctx.resolve_sources(["."])
    h1 = ctx.content_hash(srcs)
    assert h1.startswith("sha256:") and h1 == ctx.content_hash(srcs)
    write(ctxdir, "app/lib/util.py", "v")  # same size, one byte differs
    h2 = ctx.content_hash(srcs)
    assert h2 != h1
    os.chmod(ctxdir / "a.txt", 0o600)
    h3 = ctx.content_hash(srcs)
    assert h3 != h2
    os.symlink("a.txt", ctxdir / "ln")
    h4 = ctx.content_hash(srcs)
    assert h4 != h3
    os.unlink(ctxdir / "ln")
    os.symlink("b.txt", ctxdir / "ln")
    assert ctx.content_hash(srcs) != h4


def test_hash_skips_ignored_entries(ctxdir):
    ctx = BuildContext.from_directory(str(ctxdir))
    write(ctxdir, ".dockerignore", "app/cache\n")
    ctx = BuildContext.from_directory(str(ctxdir))
    srcs = ctx.resolve_sources(["app"])
    h = ctx.content_hash(srcs)
    write(ctxdir, "app/cache/x.pyc", "changed")
    assert ctx.content_hash(srcs) == h


def test_cached_rebuild_reads_nothing(ctxdir, tmp_path):
    write(ctxdir, "big.bin", os.urandom(3 << 20))
    cache = str(tmp_path / "db" / "hashcache.json")
    ctx = BuildContext.from_directory(str(ctxdir), cache_path=cache)
    h = ctx.content_hash(ctx.resolve_sources(["."]))
    assert ctx.bytes_hashed > 3 << 20
    again = BuildContext.from_directory(str(ctxdir), cache_path=cache)  # a new process
    assert again.content_hash(again.resolve_sources(["."])) == h
    assert again.bytes_hashed == 0
    write(ctxdir, "a.txt", "ALPHA")
    third = BuildContext.from_directory(str(ctxdir), cache_path=cache)
    assert third.content_hash(third.resolve_sources(["."])) != h
    assert third.bytes_hashed == len("ALPHA")


def test_damaged_hash_cache_is_ignored(ctxdir, tmp_path):
    cache = tmp_path / "hashcache.json"
    cache.write_text("{not json")
    ctx = BuildContext.from_directory(str(ctxdir), cache_path=str(cache))
    ctx.content_hash(ctx.resolve_sources(["a.txt"]))
    assert ctx.bytes_hashed == 5


# --- copy_into -------------------------------------------------------------------

@pytest.fixture
def image(tmp_path):
    d = tmp_path / "rootfs"
    (d / "etc").mkdir(parents=True)
    return d


def test_copy_file_into_dir_and_rename(ctxdir, image):
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), "/opt/")
    assert (image / "opt/a.txt").read_text() == "alpha"
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), "/opt/renamed")
    assert (image / "opt/renamed").read_text() == "alpha"
    ctx.copy_into(ctx.resolve_sources(["b.txt"]), str(image), "/etc")  # existing dir
    assert (image / "etc/b.txt").read_text() == "beta"


def test_copy_multiple_sources_need_a_directory_with_a_slash(ctxdir, image):
    """The classic builder's rule (moby builder/dockerfile/copy.go)."""
    ctx = BuildContext.from_directory(str(ctxdir))
    for dest in ("/multi", "."):
        with pytest.raises(BuildError, match="must be a directory and end with a /"):
            ctx.copy_into(ctx.resolve_sources(["*.txt"]), str(image), dest)
    ctx.copy_into(ctx.resolve_sources(["*.txt"]), str(image), "/multi/")
    assert sorted(os.listdir(image / "multi")) == ["a.txt", "b.txt"]


def test_copy_relative_to_workdir(ctxdir, image):
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), ".", workdir="/srv/app")
    ctx.copy_into(ctx.resolve_sources(["b.txt"]), str(image), "sub/b", workdir="/srv/app")
    assert (image / "srv/app/a.txt").read_text() == "alpha"
    assert (image / "srv/app/sub/b").read_text() == "beta"


def test_copy_directory_copies_contents_and_modes(ctxdir, image):
    write(ctxdir, ".dockerignore", "**/cache\n")
    os.symlink("main.py", ctxdir / "app/link")
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["app"]), str(image), "/dst")
    assert tree(image / "dst") == {"main.py": "print(1)\n", "lib": "dir",
                                   "lib/util.py": "u", "link": "link"}
    assert stat.S_IMODE(os.stat(image / "dst/main.py").st_mode) == 0o755
    assert os.readlink(image / "dst/link") == "main.py"
    assert os.stat(image / "dst/main.py").st_mtime_ns == os.stat(ctxdir / "app/main.py").st_mtime_ns


@as_root
def test_copy_chown_and_chmod(ctxdir, image):
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["app"]), str(image), "/owned/", chown=(1000, 1001), chmod=0o640)
    for rel in ("owned", "owned/main.py", "owned/lib", "owned/lib/util.py"):
        st = os.lstat(image / rel)
        assert (st.st_uid, st.st_gid) == (1000, 1001), rel
    assert stat.S_IMODE(os.stat(image / "owned/main.py").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(image / "owned/lib").st_mode) == 0o640
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), "/plain")
    st = os.stat(image / "plain")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_copy_never_writes_outside_the_image(ctxdir, image, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), image / "abs")         # absolute: means <image>/<outside>
    os.symlink("../../../../../..", image / "up")   # climbs: clamped at the image root
    os.symlink(str(outside / "f"), image / "etc/file-link")
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), "/abs/x")
    ctx.copy_into(ctx.resolve_sources(["b.txt"]), str(image), "/up/y")
    ctx.copy_into(ctx.resolve_sources(["a.txt"]), str(image), "/etc/file-link")
    ctx.copy_into(ctx.resolve_sources(["app"]), str(image), "/abs/tree/")
    assert os.listdir(outside) == []
    assert (image / str(outside).lstrip("/") / "x").read_text() == "alpha"
    assert (image / str(outside).lstrip("/") / "tree/main.py").exists()
    assert (image / "y").read_text() == "beta"
    assert not os.path.islink(image / "etc/file-link")  # the link was replaced, not followed
    assert resolve_in_root(str(image), "/up/../../etc") == str(image / "etc")


def test_copy_file_over_directory_fails(ctxdir, image):
    (image / "opt/a.txt").mkdir(parents=True)
    ctx = BuildContext.from_directory(str(ctxdir))
    with pytest.raises(BuildError):
        ctx.copy_into(ctx.resolve_sources(["*.txt"]), str(image), "/opt/")


# --- tar contexts ----------------------------------------------------------------

def make_tar(path, members, mode="w:gz"):
    """members: (name, kind, data/linkname)."""
    with tarfile.open(path, mode) as tar:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                       "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            ti.mode = 0o755
            if kind in ("sym", "hard"):
                ti.linkname = data
            tar.addfile(ti)
    return str(path)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_context(tmp_path, mode):
    tb = make_tar(tmp_path / "ctx.tar", [
        ("./Dockerfile", "file", b"FROM t\n"), ("src", "dir", None),
        ("src/a.txt", "file", b"A"), ("src/ln", "sym", "a.txt"), ("src/hard", "hard", "src/a.txt"),
    ], mode)
    with BuildContext.open(tb, tmpdir=str(tmp_path / "scratch")) as ctx:
        root = ctx.root
        assert ctx.dockerfile_text() == "FROM t\n"
        assert rels(ctx.resolve_sources(["src/*"])) == ["src/a.txt", "src/hard", "src/ln"]
        assert os.readlink(os.path.join(root, "src/ln")) == "a.txt"
    assert not os.path.exists(root)


@pytest.mark.parametrize("members,why", [
    ([("/etc/passwd", "file", b"x")], "absolute"),
    ([("a/../../x", "file", b"x")], "'..'"),
    ([("evil", "sym", "/etc"), ("evil/passwd", "file", b"x")], "symlink"),
    ([("evil", "sym", "../.."), ("evil/x", "file", b"x")], "symlink"),
    ([("dev", "chr", None)], "device"),
    ([("fifo", "fifo", None)], "device"),
    ([("h", "hard", "../../etc/passwd")], "'..'"),
])
def test_malicious_tar_context_refused(tmp_path, members, why):
    tb = make_tar(tmp_path / "bad.tar.gz", members)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    with pytest.raises(UsageError, match=why):
        BuildContext.from_tarball(tb, tmpdir=str(tmpdir))
    assert os.listdir(tmpdir) == []  # the partial extraction was removed


def test_stdin_dockerfile_gives_empty_context(tmp_path):
    with BuildContext.open("-", stdin=io.BytesIO(b"FROM scratch\nCOPY a /\n"),
                           tmpdir=str(tmp_path / "scratch")) as ctx:
        assert ctx.dockerfile_text() == "FROM scratch\nCOPY a /\n"
        with pytest.raises(BuildError, match="file not found"):
            ctx.resolve_sources(["a"])


def test_stdin_tar_context(tmp_path):
    data = open(make_tar(tmp_path / "c.tgz", [("Dockerfile", "file", b"FROM s\n")]), "rb").read()
    with BuildContext.open("-", stdin=io.BytesIO(data), tmpdir=str(tmp_path / "scratch")) as ctx:
        assert ctx.dockerfile_text() == "FROM s\n"


def test_malicious_dockerfile_symlink_in_tar_context(tmp_path):
    tb = make_tar(tmp_path / "c.tar", [("Dockerfile", "sym", "/etc/hostname")], "w")
    with BuildContext.open(tb, tmpdir=str(tmp_path / "scratch")) as ctx:
        with pytest.raises(UsageError, match="cannot locate Dockerfile"):
            ctx.dockerfile_text()


# --- ADD -------------------------------------------------------------------------

def test_add_local_tar_is_extracted(ctxdir, image):
    make_tar(ctxdir / "rootfs.tar.gz", [("bin", "dir", None), ("bin/tool", "file", b"T"),
                                        ("lib", "sym", "bin")])
    (ctxdir / "plain.gz").write_bytes(gzip.compress(b"not a tar"))
    ctx = BuildContext.from_directory(str(ctxdir))
    assert is_archive(str(ctxdir / "rootfs.tar.gz")) and not is_archive(str(ctxdir / "plain.gz"))
    ctx.copy_into(ctx.resolve_sources(["rootfs.tar.gz", "plain.gz"]), str(image), "/x/", unpack=True)
    assert (image / "x/bin/tool").read_text() == "T"
    assert os.readlink(image / "x/lib") == "bin"
    assert (image / "x/plain.gz").exists()  # not a tar: copied as it is
    ctx.copy_into(ctx.resolve_sources(["rootfs.tar.gz"]), str(image), "/y/")  # COPY: no unpack
    assert (image / "y/rootfs.tar.gz").is_file()


def test_add_tar_cannot_escape_through_image_symlinks(ctxdir, image, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), image / "abs")
    make_tar(ctxdir / "t.tar", [("abs/pwn", "file", b"p")], "w")
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into(ctx.resolve_sources(["t.tar"]), str(image), "/", unpack=True)
    assert os.listdir(outside) == []
    assert (image / str(outside).lstrip("/") / "pwn").read_text() == "p"


def test_is_url():
    assert is_url("http://x/y") and is_url("https://x/y")
    assert not is_url("ftp://x/y") and not is_url("file.txt") and not is_url("git@github.com:a/b")


def test_download_from_local_server(http_root, tmp_path, ctxdir, image):
    root, base = http_root
    write(root, "files/pkg.tar.gz", b"\x1f\x8b not really")
    dest = tmp_path / "dl"
    path = download(f"{base}/files/pkg.tar.gz", str(dest))
    assert path == str(dest / "pkg.tar.gz")
    assert open(path, "rb").read() == b"\x1f\x8b not really"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(dest) == ["pkg.tar.gz"]
    ctx = BuildContext.from_directory(str(ctxdir))
    ctx.copy_into([Source.external(path)], str(image), "/dl/", unpack=True)  # never unpacked
    assert (image / "dl/pkg.tar.gz").read_bytes() == b"\x1f\x8b not really"


def test_download_errors(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(BuildError, match="404"):
        download(f"{base}/missing.txt", str(tmp_path / "dl"))
    assert os.listdir(tmp_path / "dl") == []
    with pytest.raises(BuildError, match="file name"):
        download(f"{base}/", str(tmp_path / "dl"))
    with pytest.raises(UsageError):
        download("ftp://127.0.0.1/x", str(tmp_path / "dl"))


def test_stdin_context_lives_in_the_private_scratch_dir(tmp_path):
    # Review item 9: `build -` contexts go to jocker's own 0700 directory,
    # never the shared temp directory that system prune no longer sweeps.
    data = open(make_tar(tmp_path / "c.tgz", [("Dockerfile", "file", b"FROM s\n")]), "rb").read()
    scratch_dir = tmp_path / "scratch"
    with BuildContext.open("-", stdin=io.BytesIO(data), tmpdir=str(scratch_dir)) as ctx:
        assert os.path.dirname(ctx.root) == str(scratch_dir)
        assert os.path.basename(ctx.root).startswith(f"jocker-context-{os.getpid()}-")
        assert os.stat(scratch_dir).st_mode & 0o777 == 0o700
    assert os.listdir(scratch_dir) == []
