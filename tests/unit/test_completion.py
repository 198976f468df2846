"""Shell completion comes from click: `_JOCKER_COMPLETE=bash_source jocker`
prints a bash function, and completing goes through the lazy command group.

The commands run the entry point the way the installed console script does
(argv[0] ending in `jocker`): click derives the variable's name from the
program name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; sys.argv[0] = '/usr/local/bin/jocker'; from jocker.cli import main; main()"


def complete(**env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    full.pop("JOCKER_CONFIG", None)
    return subprocess.run([sys.executable, "-c", LAUNCH], capture_output=True, text=True,
                          env=full, timeout=60)


def test_bash_source_prints_a_completion_function():
    proc = complete(_JOCKER_COMPLETE="bash_source")
    assert proc.returncode == 0, proc.stderr
    assert "_jocker_completion() {" in proc.stdout
    assert "complete -o nosort -F _jocker_completion jocker" in proc.stdout


def test_completing_a_command_name_uses_the_lazy_group():
    proc = complete(_JOCKER_COMPLETE="bash_complete", COMP_WORDS="jocker ima", COMP_CWORD="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,image", "plain,images"]


def test_completing_a_subcommand():
    proc = complete(_JOCKER_COMPLETE="bash_complete", COMP_WORDS="jocker system ", COMP_CWORD="2")
    assert proc.returncode == 0, proc.stderr
    assert {"plain,df", "plain,prune", "plain,init"} <= set(proc.stdout.split())


def test_zsh_and_fish_sources_exist():
    for shell in ("zsh", "fish"):
        proc = complete(_JOCKER_COMPLETE=f"{shell}_source")
        assert proc.returncode == 0 and "jocker" in proc.stdout, (shell, proc.stderr)
