"""The FreeBSD port (ports/sysutils/jocker) agrees with the Python package:
version, dependencies and their port origins, the console script and the rc
script; its Makefile follows the Porter's Handbook variable order; pkg-message
is valid UCL of the shape pkg(8) reads; the sample configuration is rendered
from jocker/config.py; ports/make-distinfo.sh writes a distinfo in `make
makesum`'s format for the release tarball USE_GITHUB fetches.

The name `jocker` on PyPI belongs to an unrelated project (0.0.2, 0.0.5), so
the Python distribution is `jocker-jails` (the command stays `jocker`) and
the port fetches the project's own GitHub release, never PyPI."""

from __future__ import annotations

import configparser
import hashlib
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import jocker
from jocker import config as config_mod
from jocker.conf_sample import render_sample

REPO = Path(__file__).resolve().parents[2]
PORT = REPO / "ports" / "sysutils" / "jocker"
SETUP = configparser.ConfigParser()
SETUP.read(REPO / "setup.cfg")

# PyPI distribution name -> (package name after ${PYTHON_PKGNAMEPREFIX}, port origin)
ORIGINS = {
    "click": ("click", "devel/py-click"),
    "jinja2": ("Jinja2", "devel/py-Jinja2"),
    "libzfs": ("libzfs", "filesystems/py-libzfs"),
}


# -- a small Makefile reader ----------------------------------------------------

def logical_lines(text: str) -> list[str]:
    """Join backslash continuations; keep blank lines (they separate blocks)."""
    out, cur = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            cur += raw[:-1] + " "
            continue
        out.append(cur + raw)
        cur = ""
    return out


ASSIGN = re.compile(r"^([A-Za-z0-9_.{}$]+)\s*([+?:!]?=)(.*)$")


def variables(text: str) -> dict[str, str]:
    out = {}
    for line in logical_lines(text):
        m = ASSIGN.match(line)
        if m and not line.startswith("\t"):
            out[m.group(1)] = " ".join(m.group(3).split())
    return out


MAKEFILE = (PORT / "Makefile").read_text()
VARS = variables(MAKEFILE)


# -- the handbook's order (porters-handbook, "Order of Variables in Port Makefiles") --

ORDER = {
    "portname": ["PORTNAME", "PORTVERSION", "DISTVERSIONPREFIX", "DISTVERSION", "DISTVERSIONSUFFIX",
                 "PORTREVISION", "PORTEPOCH", "CATEGORIES", "MASTER_SITES", "MASTER_SITE_SUBDIR",
                 "PKGNAMEPREFIX", "PKGNAMESUFFIX", "DISTNAME", "EXTRACT_SUFX", "DISTFILES",
                 "DIST_SUBDIR", "EXTRACT_ONLY"],
    "patch": ["PATCH_SITES", "PATCHFILES", "PATCH_DIST_STRIP"],
    "maintainer": ["MAINTAINER", "COMMENT", "WWW"],
    "license": ["LICENSE", "LICENSE_COMB", "LICENSE_GROUPS", "LICENSE_NAME", "LICENSE_TEXT",
                "LICENSE_FILE", "LICENSE_PERMS", "LICENSE_DISTFILES"],
    "broken": ["DEPRECATED", "EXPIRATION_DATE", "FORBIDDEN", "BROKEN", "IGNORE", "ONLY_FOR_ARCHS",
               "ONLY_FOR_ARCHS_REASON", "NOT_FOR_ARCHS", "NOT_FOR_ARCHS_REASON"],
    "depends": ["FETCH_DEPENDS", "EXTRACT_DEPENDS", "PATCH_DEPENDS", "BUILD_RUN_DEPENDS",
                "BUILD_DEPENDS", "LIB_DEPENDS", "RUN_DEPENDS", "TEST_DEPENDS"],
}
RANK = {"portname": 0, "patch": 1, "maintainer": 2, "license": 3, "broken": 4, "depends": 5,
        "flavors": 6, "uses": 7, "other": 8, "options": 9}


def _kind(var: str, options: set[str]) -> tuple[str, int]:
    """(block kind, position inside the block) of a variable."""
    for kind, names in ORDER.items():
        for i, name in enumerate(names):
            if var == name or (kind in ("license", "broken") and var.startswith(name + "_")):
                return kind, i
    if var == "FLAVORS" or var.startswith("FLAVOR"):
        return "flavors", 0
    if var == "USES":
        return "uses", 0
    if var.startswith(("USE_", "GH_", "GL_")):
        return "uses", 1
    if var == "OPTIONS_DEFINE":
        return "options", 0
    if var == "OPTIONS_DEFAULT":
        return "options", 1
    if var.startswith("OPTIONS_"):
        return "options", 2
    prefix = var.split("_", 1)[0]
    if prefix in options and var.endswith("_DESC"):
        return "options", 3
    if prefix in options:
        return "options", 4
    return "other", 0


def order_problems(text: str) -> list[str]:
    """What a porter's reviewer (or portlint) would flag about the layout."""
    problems: list[str] = []
    lines = logical_lines(text)
    options = set(variables(text).get("OPTIONS_DEFINE", "").split())
    if not lines or lines[-1] != ".include <bsd.port.mk>":
        problems.append("the Makefile must end with .include <bsd.port.mk>")
    blocks: list[list[str]] = [[]]
    in_targets = False
    for i, line in enumerate(lines):
        if line.startswith("#"):
            continue
        if not line.strip():
            if i and not lines[i - 1].strip():
                problems.append(f"line {i + 1}: blocks are separated by a single blank line")
            blocks.append([])
            continue
        if re.match(r"^[a-z][a-z0-9-]*:", line):
            in_targets = True
        m = ASSIGN.match(line)
        if m and not line.startswith("\t"):
            if in_targets:
                problems.append(f"{m.group(1)} is set after the targets")
            if not re.match(r"^[A-Za-z0-9_]+[+?:!]?=\t", line):
                problems.append(f"{m.group(1)}: use `VAR=<tab>value`")
            blocks[-1].append(m.group(1))
    last_rank = -1
    for block in (b for b in blocks if b):
        kinds = {_kind(v, options)[0] for v in block}
        if len(kinds) > 1 and not kinds <= {"options"}:
            problems.append(f"block {block} mixes {sorted(kinds)}")
            continue
        kind = kinds.pop()
        rank = RANK[kind]
        if rank < last_rank and not (kind == "other" and last_rank == RANK["options"]):
            problems.append(f"block {block} ({kind}) comes too late")
        last_rank = max(last_rank, rank)
        positions = [_kind(v, options)[1] for v in block]
        if positions != sorted(positions):
            problems.append(f"block {block} is out of order")
    return problems


def test_makefile_follows_the_handbook_order():
    assert order_problems(MAKEFILE) == []


@pytest.mark.parametrize("bad,expect", [
    ("PORTNAME=\tx\nCATEGORIES=\tsysutils\nDISTVERSION=\t1\n\nMAINTAINER=\ta@b.c\n\n.include <bsd.port.mk>",
     "out of order"),
    ("PORTNAME=\tx\n\nUSES=\tpython\n\nRUN_DEPENDS=\ty:z/y\n\n.include <bsd.port.mk>", "too late"),
    ("PORTNAME=\tx\nMAINTAINER=\ta@b.c\n\n.include <bsd.port.mk>", "mixes"),
    ("PORTNAME=\tx\n\n\nMAINTAINER=\ta@b.c\n\n.include <bsd.port.mk>", "single blank line"),
    ("PORTNAME= x\n\n.include <bsd.port.mk>", "VAR=<tab>value"),
    ("PORTNAME=\tx\n", "must end with"),
])
def test_order_checker_catches_mistakes(bad, expect):
    assert any(expect in p for p in order_problems(bad)), order_problems(bad)


# -- agreement with setup.cfg ---------------------------------------------------

def test_name_and_version_agree_with_the_package():
    assert VARS["PORTNAME"] == "jocker"
    assert SETUP["metadata"]["name"] == "jocker-jails"
    assert VARS["DISTVERSION"] == jocker.__version__
    assert SETUP["metadata"]["version"] == "attr: jocker.__version__"
    assert VARS["CATEGORIES"].split()[0] == "sysutils"
    assert VARS["LICENSE"] == "BSD2CLAUSE" and SETUP["metadata"]["license"] == "BSD-2-Clause"


def test_fetches_the_projects_own_release_with_the_account_in_one_place():
    assert "MASTER_SITES" not in VARS, "PYPI's jocker is another project"
    assert VARS["USE_GITHUB"] == "yes" and VARS["DISTVERSIONPREFIX"] == "v"
    account = VARS["GH_ACCOUNT"]
    assert "GH_PROJECT" not in VARS          # defaults to PORTNAME
    assert MAKEFILE.count(account) == 2      # GH_ACCOUNT, and WWW which must agree
    assert VARS["WWW"] == f"https://github.com/{account}/{VARS['PORTNAME']}/"


def test_license_file_is_shipped_and_is_bsd2():
    assert VARS["LICENSE_FILE"] == "${WRKSRC}/LICENSE"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License") and "2. Redistributions in binary form" in text
    assert "3. " not in text


def test_metadata_block_is_well_formed():
    comment = VARS["COMMENT"]
    assert len(comment) <= 70 and comment[0].isupper() and not comment.endswith(".")
    assert re.fullmatch(r"[^@\s,<>()]+@[\w.-]+", VARS["MAINTAINER"])
    assert not VARS["MAINTAINER"].endswith(("example.org", "example.com"))
    assert VARS["WWW"].startswith("https://") and "example" not in VARS["WWW"]


def _requirements(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\n"):
        line = line.strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9.]+))?", line)
            assert m, f"unexpected requirement syntax {line!r}"
            out[m.group(1).lower()] = m.group(2) or "0"
    return out


def _depends(value: str) -> dict[str, tuple[str, str, str]]:
    """origin -> (package name, operator+version, flavor) for python deps."""
    out = {}
    for dep in value.split():
        if dep == "${PY_SETUPTOOLS}":
            out["devel/py-setuptools"] = ("setuptools", ">0", "${PY_FLAVOR}")
            continue
        m = re.fullmatch(r"\$\{PYTHON_PKGNAMEPREFIX\}([A-Za-z0-9_.-]+?)(>=?[0-9.]+):([a-z0-9-]+/[A-Za-z0-9_.-]+)"
                         r"(@\$\{PY_FLAVOR\})", dep)
        assert m, f"dependency {dep!r} is not ${{PYTHON_PKGNAMEPREFIX}}NAME>=VER:CATEGORY/PORT@${{PY_FLAVOR}}"
        out[m.group(3)] = (m.group(1), m.group(2), m.group(4)[1:])
    return out


def test_run_depends_are_the_install_requires():
    reqs = _requirements(SETUP["options"]["install_requires"])
    deps = _depends(VARS["RUN_DEPENDS"])
    assert set(reqs) == {"click", "jinja2"}
    assert set(deps) == {ORIGINS[r][1] for r in reqs}
    for req, minimum in reqs.items():
        pkg, origin = ORIGINS[req]
        name, bound, _ = deps[origin]
        assert name == pkg, f"{origin} installs {pkg}, not {name}"
        assert bound == (f">={minimum}" if minimum != "0" else ">0"), (
            f"{req}: setup.cfg wants >={minimum}, the port says {bound}")


def test_libzfs_option_is_the_libzfs_extra():
    assert VARS["OPTIONS_DEFINE"].split() == ["LIBZFS"]
    assert VARS["LIBZFS_DESC"]
    extra = _requirements(SETUP["options.extras_require"]["libzfs"])
    assert set(extra) == {"libzfs"}
    assert set(_depends(VARS["LIBZFS_RUN_DEPENDS"])) == {ORIGINS["libzfs"][1]}


def test_build_uses_pep517_with_setuptools():
    assert VARS["USES"].startswith("python")
    minimum = re.search(r">=\s*([0-9.]+)", SETUP["options"]["python_requires"]).group(1)
    assert VARS["USES"] == f"python:{minimum}+"
    # python.mk: pep517 makes an unprefixed application flavored unless
    # noflavors; no `concurrent`: it would install bin/jocker-3.x instead of
    # the bin/jocker the rc script runs.
    assert VARS["USE_PYTHON"].split() == ["autoplist", "noflavors", "pep517"]
    assert set(_depends(VARS["BUILD_DEPENDS"])) == {"devel/py-setuptools", "devel/py-wheel"}
    assert VARS["NO_ARCH"] == "yes"


def test_console_script_is_what_the_rc_script_runs():
    scripts = [line.strip() for line in SETUP["options.entry_points"]["console_scripts"].split("\n")
               if line.strip()]
    assert scripts == ["jocker = jocker.warm.client:main"]      # the warm CLI client first
    assert '_jocker_bin="%%PREFIX%%/bin/jocker"' in (PORT / "files" / "jocker.in").read_text()


def test_rc_script_is_installed_with_use_rc_subr():
    assert VARS["USE_RC_SUBR"] == "jocker"
    assert (PORT / "files" / "jocker.in").is_file()
    assert (PORT / "files" / "jocker.in").read_bytes() == (REPO / "rc.d" / "jocker.in").read_bytes()


def test_sample_config_is_installed_as_a_sample():
    assert VARS["PLIST_FILES"].split() == ['"@sample', 'etc/jocker.conf.sample"',
                                            "etc/newsyslog.conf.d/jocker.conf"]
    assert re.search(r"^post-install:\n\t\$\{INSTALL_DATA\} \$\{FILESDIR\}/jocker\.conf\.sample \\\n"
                     r"\t\t\$\{STAGEDIR\}\$\{PREFIX\}/etc/jocker\.conf\.sample$", MAKEFILE, re.M)


# -- the sample configuration ------------------------------------------------------

SAMPLE = PORT / "files" / "jocker.conf.sample"


def test_committed_sample_is_rendered_from_the_options():
    assert SAMPLE.read_text() == render_sample(), (
        "regenerate: python -m jocker.conf_sample > ports/sysutils/jocker/files/jocker.conf.sample")


def test_sample_sets_nothing_and_uncommented_gives_the_defaults(tmp_path):
    assert config_mod.parse_file(str(SAMPLE)) == {}
    text = SAMPLE.read_text()
    for opt in config_mod.OPTIONS:
        assert f"JOCKER_{opt.key.upper()}" in text
    uncommented = tmp_path / "jocker.conf"
    uncommented.write_text(re.sub(r"^#(?=[a-z_]+ = )", "", text, flags=re.M))
    values = config_mod.parse_file(str(uncommented))
    assert values == {o.key: o.default for o in config_mod.OPTIONS}
    cfg = config_mod.load(str(uncommented), environ={})
    assert all(src == str(uncommented) for src in cfg.sources.values())


def test_sample_lines_fit_80_columns():
    assert max(len(line) for line in render_sample().splitlines()) <= 80


# -- pkg-message, pkg-descr -----------------------------------------------------------

def parse_pkg_message(text: str) -> list[dict[str, str]]:
    """The UCL subset pkg-message files use: a list of objects whose values are
    barewords, quoted strings or <<TAG heredocs."""
    pos = 0

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1

    def expect(ch: str) -> None:
        nonlocal pos
        skip()
        assert text[pos:pos + 1] == ch, f"expected {ch!r} at offset {pos}: {text[pos:pos + 30]!r}"
        pos += 1

    expect("[")
    objects = []
    while True:
        skip()
        if text[pos:pos + 1] == "]":
            pos += 1
            break
        expect("{")
        obj: dict[str, str] = {}
        while True:
            skip()
            if text[pos:pos + 1] == "}":
                pos += 1
                break
            m = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*').match(text, pos)
            assert m, f"expected key at offset {pos}: {text[pos:pos + 30]!r}"
            key, pos = m.group(1), m.end()
            if text.startswith("<<", pos):
                m = re.compile(r"<<([A-Z]+)\n").match(text, pos)
                assert m, "heredoc tag must be upper case and end the line"
                end = text.find(f"\n{m.group(1)}\n", m.end() - 1)
                assert end >= 0, f"heredoc <<{m.group(1)} is not closed"
                obj[key], pos = text[m.end():end + 1], end + len(m.group(1)) + 2
            elif text[pos] == '"':
                m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(text, pos)
                obj[key], pos = m.group(1), m.end()
            else:
                m = re.compile(r"[^\s,}]+").match(text, pos)
                obj[key], pos = m.group(0), m.end()
        objects.append(obj)
    skip()
    assert pos == len(text), f"trailing text after the list: {text[pos:pos + 30]!r}"
    return objects


def test_pkg_message_is_ucl_with_the_setup_steps():
    messages = parse_pkg_message((PORT / "pkg-message").read_text())
    assert [m["type"] for m in messages] == ["install"]
    msg = messages[0]["message"]
    for needed in ('nat-anchor "jocker/*"', 'rdr-anchor "jocker/*"', 'anchor "jocker/*"',
                   "kern.racct.enable=1", "/boot/loader.conf", "sysrc jocker_enable=YES",
                   "net.inet.ip.forwarding", "jocker system check"):
        assert needed in msg, needed
    assert max(len(line) for line in msg.splitlines()) <= 76


def test_pkg_message_parser_rejects_garbage():
    with pytest.raises(AssertionError):
        parse_pkg_message('[ { type: install message: <<EOM\nno end\n } ]')
    assert parse_pkg_message('[\n{ type: remove, message: "bye" }\n]') == [{"type": "remove", "message": "bye"}]


def test_pkg_descr():
    text = (PORT / "pkg-descr").read_text()
    assert text.endswith("\n") and "WWW:" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


# -- newsyslog ------------------------------------------------------------------------

def test_newsyslog_entry_rotates_the_api_log_the_rc_script_writes():
    """newsyslog.conf(5): logfile owner:group mode count size when flags pidfile;
    SIGHUP (the default signal) makes daemon -H reopen the log."""
    rc = (REPO / "rc.d" / "jocker.in").read_text()
    lines = [ln for ln in (PORT / "files" / "newsyslog.conf").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert len(lines) == 1
    f = lines[0].split()
    assert f[0] == re.search(r'jocker_api_log="([^"]+)"', rc).group(1)
    assert f[1] == "root:wheel" and f[2] == "640" and f[3].isdigit() and f[6] == "JC"
    assert f[7] == re.search(r'jocker_api_pidfile="([^"]+)"', rc).group(1)
    assert '"${_jocker_daemon}" -f -r -H ' in rc
    assert re.search(r"\$\{INSTALL_DATA\} \$\{FILESDIR\}/newsyslog\.conf \\\n"
                     r"\t\t\$\{STAGEDIR\}\$\{PREFIX\}/etc/newsyslog\.conf\.d/jocker\.conf$", MAKEFILE, re.M)


# -- distinfo --------------------------------------------------------------------------

MAKE_DISTINFO = REPO / "ports" / "make-distinfo.sh"
DISTFILE = f"{VARS['GH_ACCOUNT']}-{VARS['PORTNAME']}-v{VARS['DISTVERSION']}_GH0.tar.gz"


def test_make_distinfo_lives_outside_the_port():
    assert MAKE_DISTINFO.is_file() and not (PORT / "make-distinfo.sh").exists()


def test_committed_distinfo_names_the_release_tarball():
    lines = (PORT / "distinfo").read_text().splitlines()
    assert len(lines) == 3 and re.fullmatch(r"TIMESTAMP = [0-9]{10}", lines[0])
    assert re.fullmatch(rf"SHA256 \({re.escape(DISTFILE)}\) = [0-9a-f]{{64}}", lines[1])
    assert re.fullmatch(rf"SIZE \({re.escape(DISTFILE)}\) = [0-9]+", lines[2])


def _make_distinfo(tmp_path, name):
    if not shutil.which("git") or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    if not shutil.which("sha256sum") and not shutil.which("sha256"):
        pytest.skip("needs sha256sum (coreutils) or sha256 (FreeBSD)")
    dist, out = tmp_path / f"dist{name}", tmp_path / f"distinfo{name}"
    proc = subprocess.run(["sh", str(MAKE_DISTINFO), "-r", "HEAD", "-d", str(dist), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_text().splitlines(), dist / DISTFILE


def test_make_distinfo_is_deterministic_and_in_makesum_format(tmp_path):
    (lines, tarball), (again, _) = _make_distinfo(tmp_path, 1), _make_distinfo(tmp_path, 2)
    assert lines[1:] == again[1:], "the same ref must give the same tarball"
    data = tarball.read_bytes()
    assert lines[1] == f"SHA256 ({DISTFILE}) = {hashlib.sha256(data).hexdigest()}"
    assert lines[2] == f"SIZE ({DISTFILE}) = {len(data)}"
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    top = f"{VARS['PORTNAME']}-{VARS['DISTVERSION']}"      # WRKSRC: the tag's "v" dropped
    for member in ("setup.cfg", "LICENSE", "jocker/cli/main.py", "jocker/man/jocker.8",
                   "ports/sysutils/jocker/files/jocker.conf.sample", "templates/jail.conf.j2"):
        assert f"{top}/{member}" in names, member
