"""Every command documents itself with examples, and loads lazily."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from jocker.cli.main import COMMANDS, cli


def _all_commands():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                yield f"{name} {sub}".split()
        else:
            yield [name]


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    missing = []
    for words in _all_commands():
        res = runner.invoke(cli, [*words, "--help"])
        assert res.exit_code == 0, (words, res.output)
        if "Example" not in res.output:
            missing.append(" ".join(words))
    assert missing == []


def test_version_answers_without_importing_click():
    code = ("import sys; sys.argv = ['jocker', '--version']; from jocker.cli import main; main(); "
            "assert 'click' not in sys.modules, 'click was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("jocker version ")


def test_commands_load_lazily():
    code = ("import sys; sys.argv = ['jocker', 'ps', '--help']; from jocker.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "assert 'jocker.builder.dockerfile' not in sys.modules and 'jinja2' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert {"run", "ps", "images", "exec", "volume", "system"} <= set(COMMANDS)
