"""jocker(8): mandoc-clean, and it documents every command the CLI has, every
configuration key and its JOCKER_* variable, and the rc.d knobs."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from jocker.cli.main import COMMANDS
from jocker.config import OPTIONS

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "jocker" / "man" / "jocker.8"
RC = REPO / "rc.d" / "jocker.in"

# The commands of the issue, whether or not they are registered yet.
DOCUMENTED = {
    "": ["import", "images", "tag", "rmi", "history", "inspect", "image", "system", "info",
         "version", "run", "create", "start", "stop", "restart", "kill", "rm", "ps", "logs",
         "exec", "wait", "top", "rename", "cp", "diff", "commit", "volume", "build"],
    "system": ["df", "prune", "init", "check", "info", "prepare", "boot", "shutdown"],
    "volume": ["create", "ls", "inspect", "rm", "prune"],
    "image": ["ls", "rm", "tag", "history", "import", "inspect", "prune"],
}


def man_text() -> str:
    return MAN.read_text()


def documented(group: str, name: str) -> bool:
    words = f"{group} {name}" if group else name
    return re.search(rf"^\.(It )?Cm {re.escape(words)}( |$)|\bCm {re.escape(words)}( |$)",
                     man_text(), re.M) is not None


def registered() -> list[tuple[str, str]]:
    """(group, name) for every command the CLI registers, groups expanded."""
    out = []
    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(f"jocker.cli.{module}"), attr)
        out.append(("", name))
        if isinstance(cmd, click.Group):
            out += [(name, sub) for sub in cmd.commands]
    return out


def test_mandoc_lint():
    if not shutil.which("mandoc"):
        pytest.skip("mandoc is not installed (apt-get install mandoc; FreeBSD has it in base)")
    proc = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(MAN)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    # style messages too, except cross references to FreeBSD pages this host lacks
    proc = subprocess.run(["mandoc", "-Tlint", str(MAN)], capture_output=True, text=True)
    style = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines()
             if "STYLE" in line and "referenced manual not found" not in line]
    assert not style, "\n".join(style)


def test_required_sections():
    text = man_text()
    sections = re.findall(r"^\.Sh (.+)$", text, re.M)
    assert sections == ["NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "FILES", "EXIT STATUS",
                        "EXAMPLES", "SEE ALSO", "CAVEATS"]
    for page in ("jail 8", "jexec 8", "zfs 8", "pf.conf 5", "rctl 8", "devfs 8"):
        assert f".Xr {page}" in text, page


@pytest.mark.parametrize("group,name", registered())
def test_every_registered_command_is_documented(group, name):
    assert documented(group, name), f"jocker {group} {name}".replace("  ", " ") + " is missing from jocker.8"


@pytest.mark.parametrize("group,name", [(g, n) for g, names in DOCUMENTED.items() for n in names])
def test_every_command_of_the_issue_is_documented(group, name):
    assert documented(group, name)


def test_configuration_keys_and_environment():
    text = man_text()
    for opt in OPTIONS:
        assert re.search(rf"\bVa {opt.key}\b", text), f"setting {opt.key} is not documented"
        assert f"Ev JOCKER_{opt.key.upper()}" in text, f"JOCKER_{opt.key.upper()} is not documented"
    assert "Ev JOCKER_CONFIG" in text


def test_files_and_exit_status():
    text = man_text()
    for path in ("/usr/local/etc/jocker.conf", "/var/db/jocker", "/var/run/jocker", "/usr/local/etc/rc.d/jocker"):
        assert f".It Pa {path}\n" in text, path
    exit_section = text.split(".Sh EXIT STATUS", 1)[1].split(".Sh ", 1)[0]
    for code in ("0", "1", "125", "126", "127"):
        assert f".It {code}\n" in exit_section


def test_rc_knobs_match_the_rc_script():
    man_knobs = set(re.findall(r"\bVa (jocker_[a-z_]+)", man_text()))
    rc_knobs = set(re.findall(r"^: \$\{(jocker_[a-z_]+):?=", RC.read_text(), re.M))
    assert man_knobs == rc_knobs
