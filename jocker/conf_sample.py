"""The sample configuration file, rendered from the option table in
jocker/config.py so that the two can never drift apart.

The rendered text is committed as ports/sysutils/jocker/files/jocker.conf.sample
(the port installs it as %%PREFIX%%/etc/jocker.conf.sample, and pkg copies
it to jocker.conf on first install); a unit test checks that the committed
file equals render_sample(). After changing OPTIONS, regenerate it with

    python -m jocker.conf_sample > ports/sysutils/jocker/files/jocker.conf.sample
"""

from __future__ import annotations

import textwrap

from .config import DEFAULT_CONFIG_FILE, OPTIONS

_WIDTH = 78

_HEADER = f"""\
# jocker.conf: configuration of jocker(8), the container engine.
#
# jocker reads {DEFAULT_CONFIG_FILE} unless --config FILE or the
# JOCKER_CONFIG environment variable names another file. Every setting
# below is commented out and shows its built-in default: uncomment and edit
# only what you want to change.
#
# Syntax, as in rc.conf(5): one `key = value` or key="value" per line; `#`
# starts a comment. An unknown key is an error that names the line.
#
# Precedence, lowest first: built-in defaults, this file, JOCKER_<KEY>
# environment variables, command-line flags (--dataset). `jocker info`
# shows where each value came from; `jocker system check` tests the host.
#
# This file is generated from jocker's option table (jocker/config.py)."""


def _comment(text: str) -> list[str]:
    body = text
    if not body.endswith("."):
        body += "."
    return textwrap.wrap(body, width=_WIDTH - 2, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False)


def render_sample() -> str:
    """The whole sample file: a header, then each option commented out with
    its help text, its environment variable and its default value."""
    out = [_HEADER]
    for opt in OPTIONS:
        out.append("")
        out.extend(_comment(opt.help))
        out.append(f"# Environment: JOCKER_{opt.key.upper()}")
        out.append(f'#{opt.key} = "{opt.default}"')
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_sample(), end="")
