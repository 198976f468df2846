"""Here-documents in RUN, COPY and ADD, as Docker documents them
(Dockerfile reference, "Here-Documents"; buildkit's parser and dispatcher).

    RUN <<EOF                     the body is the script, run by the shell
    RUN <<EOF                     ... or, starting with `#!`, a file run
    #!/usr/bin/env python3            directly (buildkit mounts it at
    EOF                               /dev/pipes/<name>, mode 0755)
    RUN cat <<A > /a && cat <<B   anything else: the line and the bodies go
                                      to the shell, which reads them itself
    COPY <<EOF /etc/motd          a file with the body (ADD alike); several
    COPY <<a <<b /dir/                heredocs are files named after them

`<<-EOF` strips leading tabs from the body lines and the terminator; a quoted
delimiter (`<<"EOF"`, `<<'EOF'`) turns off variable expansion in COPY/ADD
bodies (in RUN the shell expands, as always). Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .substitute import split_words, substitute

ALLOWED = ("RUN", "COPY", "ADD")
_MARKER = re.compile(r"^(\d*)<<(-?)([^<]*)$")     # buildkit's heredoc word
PIPES = "/dev/pipes"


@dataclass
class Heredoc:
    word: str           # as written on the instruction line: <<-"EOF"
    name: str           # the delimiter, unquoted
    content: str = ""   # the body, every line ending in "\n", tabs kept (see text)
    expand: bool = True
    chomp: bool = False

    @property
    def text(self) -> str:
        """The body as the file or script gets it (`<<-` strips leading tabs)."""
        if not self.chomp:
            return self.content
        return "".join(line.lstrip("\t") for line in self.content.splitlines(keepends=True))


def markers(keyword: str, rest: str, escape: str) -> list[Heredoc]:
    """The heredocs a (joined) instruction line opens, in order."""
    if keyword.upper() not in ALLOWED or rest.lstrip().startswith("["):
        return []
    out = []
    for word in split_words(rest, escape):
        m = _MARKER.match(word)
        if not m or not m.group(3):
            continue
        raw = m.group(3)
        try:
            name = substitute(raw, {}, escape)
        except ValueError:
            continue
        if name and not any(c.isspace() for c in name):
            out.append(Heredoc(word=word, name=name, expand=not any(q in raw for q in "'\""),
                               chomp=m.group(2) == "-"))
    return out


def read_bodies(lines: list[str], i: int, docs: list[Heredoc]) -> int | None:
    """Fill each heredoc's body from lines[i:], one after the other; the
    index after the last terminator, or None when a terminator is missing."""
    for doc in docs:
        body = []
        while True:
            if i >= len(lines):
                return None
            line = lines[i]
            i += 1
            if (line.lstrip("\t") if doc.chomp else line) == doc.name:
                break
            body.append(line + "\n")
        doc.content = "".join(body)
    return i


def run_argv(cmdline: str, docs: list[Heredoc], shell: list[str]) -> tuple[list[str], dict[str, str]]:
    """A shell-form RUN with heredocs: (argv, {path in the container: script})."""
    only = docs[0] if len(docs) == 1 and cmdline.strip() == docs[0].word else None
    if only is not None and only.text.startswith("#!"):
        path = f"{PIPES}/{only.name}"
        return [path], {path: only.text}
    if only is not None:
        return [*shell, only.text], {}
    full = cmdline + "".join("\n" + d.content + d.name for d in docs)
    return [*shell, full], {}


def expanded(docs: list[Heredoc], env: dict[str, str]) -> list[Heredoc]:
    """COPY/ADD bodies with variables substituted where the delimiter was not
    quoted (buildkit: always `\\` escapes, quotes kept as written)."""
    return [Heredoc(d.word, d.name, substitute(d.text, env, "\\", quotes=False), False, False)
            if d.expand else d for d in docs]
