"""jocker's Dockerfile parser against Docker's own parser test data
(moby/buildkit frontend/dockerfile: parser/testfiles, testfiles-negative,
shell/envVarTest, shell/wordsTest, and lex_test.go's vectors as data).

The data lives outside the project, in ../shared/conformance/dockerfile-parser
(see its README); these tests skip when it is absent. Each positive case is
parsed with jocker's line layer and argument splitting and printed in
buildkit's AST dump format (`(cmd ["--flag"] "arg" ...)`, Go-quoted), then
compared with the case's `result` file. Negative cases must be refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jocker.builder import dockerfile as D
from jocker.format import go_quote
from jocker.builder.substitute import (ShellWordError, extract_flags, split_fields, split_key_values,
                                     split_words, substitute, substitute_words)

DATA = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "dockerfile-parser"
BUILDKIT = DATA / "buildkit"
pytestmark = pytest.mark.skipif(not BUILDKIT.is_dir(), reason=f"Docker's parser test data is not at {DATA}")


def _cases(sub: str) -> list[Path]:
    root = BUILDKIT / "parser" / sub
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


_ONE_STRING = ("USER", "WORKDIR", "MAINTAINER", "STOPSIGNAL")
_MAYBE_JSON = ("RUN", "CMD", "ENTRYPOINT", "SHELL")
_MAYBE_JSON_LIST = ("COPY", "ADD", "VOLUME")


def ast_node(line: str, escape: str) -> str:
    """One logical line as buildkit's parser dumps it."""
    keyword, _, rest = D.BLANKS.sub(" ", line.strip(), count=1).partition(" ")
    cmd = keyword.upper()
    rest, flags = extract_flags(rest, escape)
    rest = rest.strip()
    if cmd in ("ENV", "LABEL"):
        legacy = "=" not in (split_words(rest, escape) or [""])[0]
        args = [x for k, v in split_key_values(rest, escape) for x in (k, v, "" if legacy else "=")]
    elif cmd == "ARG":
        args = split_words(rest, escape)
    elif cmd == "ONBUILD":
        return f"(onbuild {ast_node(rest, escape)})"
    elif cmd == "HEALTHCHECK":
        kind, _, command = D.BLANKS.sub(" ", rest, count=1).partition(" ")
        if kind.upper() == "CMD":
            array = D.exec_form(command.strip())
            args = ["CMD", *(array if array is not None else [command.strip()] if command.strip() else [])]
        else:
            args = [kind, command] if kind else []
    elif cmd in _ONE_STRING:
        args = [rest]
    elif cmd in _MAYBE_JSON or cmd in _MAYBE_JSON_LIST:
        array = D.exec_form(rest)
        if array is None:
            array = split_fields(rest) if cmd in _MAYBE_JSON_LIST else [rest] if rest else []
        args = array
    else:                                   # FROM, EXPOSE
        args = split_fields(rest)
    parts = [cmd.lower()]
    if flags:
        parts.append("[" + " ".join(go_quote(f) for f in flags) + "]")
    parts += [go_quote(a) for a in args]
    return "(" + " ".join(parts) + ")"


def dump(text: str) -> list[str]:
    lines = D._physical_lines(text)
    escape = D._read_directives(lines, "Dockerfile").get("escape", "\\")
    return [ast_node(line, escape) for _, _, line, _, _ in D._logical_lines(lines, escape)]


@pytest.mark.parametrize("case", _cases("testfiles"), ids=lambda p: p.name)
def test_buildkit_parser_testfiles(case):
    text = (case / "Dockerfile").read_text(encoding="utf-8")
    expected = (case / "result").read_text(encoding="utf-8").splitlines()
    assert dump(text) == expected


def test_all_33_cases_are_there():
    assert len(_cases("testfiles")) == 33 and len(_cases("testfiles-negative")) == 4


@pytest.mark.parametrize("case", _cases("testfiles-negative"), ids=lambda p: p.name)
def test_buildkit_negative_cases_are_refused(case):
    with pytest.raises(D.DockerfileError):
        D.parse((case / "Dockerfile").read_text(encoding="utf-8"))


def _env_var_vectors() -> list[tuple[str, str]]:
    """shell/envVarTest: `PLATFORM | input | expected` (A = all, U = unix)."""
    path = BUILDKIT / "shell" / "envVarTest"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        platform, source, expected = line.split("|", 2)
        if platform.strip() in ("A", "U"):
            out.append((source.strip(), expected.strip()))
    return out


ENV_VARS = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize("source,expected", _env_var_vectors())
def test_buildkit_env_var_vectors(source, expected):
    if expected == "error":
        with pytest.raises(ShellWordError):
            substitute(source, ENV_VARS)
    else:
        assert substitute(source, ENV_VARS) == expected


def _words_vectors() -> list[tuple[str, dict, list[str]]]:
    """shell/wordsTest: `ENV k=v` lines add to the env; `input | w1,w2` expects words."""
    path = BUILDKIT / "shell" / "wordsTest"
    env: dict[str, str] = {}
    out = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("ENV "):
            key, _, value = line[4:].lstrip(" ").partition("=")
            env[key] = value
            continue
        source, expected = line.split("|", 1)
        out.append((source.strip(), dict(env), expected.lstrip(" ").split(",")))
    return out


@pytest.mark.parametrize("source,env,expected", _words_vectors())
def test_buildkit_words_vectors(source, env, expected):
    if expected == ["error"]:
        with pytest.raises(ShellWordError):
            substitute_words(source, env)
    else:
        assert substitute_words(source, env) == expected


def _lex_cases() -> list[dict]:
    path = DATA / "lex_cases.json"
    return json.loads(path.read_text(encoding="utf-8"))["cases"] if path.exists() else []


@pytest.mark.parametrize("case", _lex_cases(), ids=lambda c: c["input"])
def test_buildkit_lex_vectors(case):
    if case.get("error"):
        with pytest.raises(ShellWordError):
            substitute(case["input"], case["env"])
    else:
        assert substitute(case["input"], case["env"]) == case["expected"]


def test_vector_counts():
    """228 envVarTest vectors for Linux, plus wordsTest's and lex_test.go's."""
    assert (len(_env_var_vectors()), len(_words_vectors()), len(_lex_cases())) == (228, 24, 56)
