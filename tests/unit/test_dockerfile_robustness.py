"""The Dockerfile parser as Docker ships it, and bad input that must never
crash it (issue 14): a regression test per case a fuzz run found, and a
property-based fuzz test (hypothesis) feeding the parser and the variable
substitution random and mutated input. Every input parses, or raises
jocker's usage error whose one line names the file and the line.

Docker's behaviour here is taken from buildkit's parser and lexer
(frontend/dockerfile/parser/parser.go: the line-continuation regex
`([^\\])\\[ \t]*$|^\\[ \t]*$`, trimNewline's TrimRight "\r\n", the scanner's
"dockerfile line greater than max allowed size of 65535";
frontend/dockerfile/shell/lex.go: the pattern operators; the JSON form is
a whole-line array decoded by Go's encoding/json, which knows no NaN).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jocker.builder.dockerfile import DockerfileError, expand, parse
from jocker.builder.substitute import MAX_NESTING, ShellWordError, substitute, substitute_words

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis (pip install -e .[test])")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

LINE_ERROR = re.compile(r"^Dockerfile:\d+: [^\n]+$")
CORPUS = Path(__file__).resolve().parents[1] / "data" / "dockerfiles"


def one(text: str):
    """The last stage's instructions of a parsed Dockerfile."""
    return parse(text).stages[-1].instructions


def refused(text: str, env: dict | None = None) -> str:
    """The one-line error a Dockerfile gets (parsing, then expanding each step)."""
    with pytest.raises(DockerfileError) as info:
        for instr in parse(text).stages[-1].instructions:
            expand(instr, env or {})
    message = str(info.value)
    assert LINE_ERROR.match(message), message
    return message


# ------------------------------------------------------------ Docker's rules

def test_escaped_escape_at_the_end_is_not_a_continuation():
    env = one("FROM s\nENV C trailing\\\\\nENV D next\n")
    assert [i.args for i in env] == [["C", "trailing\\\\"], ["D", "next"]]
    ticks = one("# escape=`\nFROM s\nENV C a``\nENV D b `\n c\n")
    assert [i.args for i in ticks] == [["C", "a``"], ["D", "b  c"]]


def test_carriage_returns_before_the_newline_keep_the_continuation():
    (run,) = one("FROM s\r\nRUN echo a \\\r\r\n  b\r\n")
    assert run.args == ["echo a   b"]


def test_text_after_a_json_array_is_shell_form():
    run, copy, nan, inf = one('FROM s\nRUN ["echo","hi"] x\nCOPY ["a","b"] c\nCMD [NaN]\nCMD [Infinity]\n')
    assert (run.json_form, run.command()) == (False, ["/bin/sh", "-c", '["echo","hi"] x'])
    assert (copy.json_form, copy.sources, copy.dest) == (False, ['["a","b"]'], "c")
    assert (nan.json_form, nan.args) == (False, ["[NaN]"])
    assert (inf.json_form, inf.args) == (False, ["[Infinity]"])
    assert "arrays must be comprised of strings only" in refused('FROM s\nCMD ["a", 1]\n')


@pytest.mark.parametrize("word,value", [
    ("${v#*/}", "b/c.tar.gz"), ("${v##*/}", "c.tar.gz"), ("${v%.*}", "a/b/c.tar"),
    ("${v%%.*}", "a/b/c"), ("${v/\\//-}", "a-b/c.tar.gz"), ("${v//\\//-}", "a-b-c.tar.gz"),
    ("${v/?/X}", "X/b/c.tar.gz"), ("${nope##*}", ""), ("${v#nomatch}", "a/b/c.tar.gz"),
])
def test_pattern_operators(word, value):
    assert substitute(word, {"v": "a/b/c.tar.gz"}) == value
    (env,) = one(f"FROM s\nENV r={word}\n")
    assert expand(env, {"v": "a/b/c.tar.gz"}).args == ["r", value]


def test_pattern_operator_errors_name_the_line():
    assert "missing '/'" in refused("FROM s\nENV r=${v//ww}\n")
    assert "unsupported modifier (#)" in refused("FROM s\nENV r=${v:#x}\n")


def test_escape_directive_character_in_flags():
    (copy,) = one("# escape=`\nFROM s\nCOPY --chown=a`:b --from=c\\d x y\n")
    assert copy.flags == {"chown": "a:b", "from": "c\\d"}


def test_healthcheck_none_with_flags():
    (hc,) = one("FROM s\nHEALTHCHECK --interval=5s NONE\n")
    assert hc.healthcheck() == {"Test": ["NONE"]}
    assert "takes no arguments" in refused("FROM s\nHEALTHCHECK NONE x\n")


def test_lines_of_64_kib_are_refused_with_dockers_message():
    ok = "FROM s\nLABEL a=" + "x" * (65535 - len("LABEL a=")) + "\n"
    assert len(one(ok)[0].args[1]) == 65535 - len("LABEL a=")
    message = refused("FROM s\nLABEL test=" + "a" * 65536 + "\n")
    assert message == "Dockerfile:2: dockerfile line greater than max allowed size of 65535"
    assert "Dockerfile:2:" in refused("FROM s\nLABEL a=" + "é" * 32768 + "\n")     # bytes, not characters


def test_heredoc_parsing():
    """Dockerfile reference, "Here-Documents" (buildkit: heredocs in RUN, COPY, ADD)."""
    run, multi, copy, add, json_run, after = one(
        "FROM s\nRUN <<EOF\necho $A\nEOF\n"
        "RUN cat <<A >/a && cat <<-'B' >/b\nx\nA\n\ty $A\n\tB\n"
        "COPY <<EOF /m\n$A \"q\"\nEOF\n"
        "ADD <<'raw' <<cooked /d/\n$A\nraw\n$A\ncooked\n"
        "RUN [\"cat\", \"<<EOF\"]\n"
        "LABEL after=yes\n")
    assert run.command() == ["/bin/sh", "-c", "echo $A\n"] and run.script_files() == {}
    assert multi.command() == ["/bin/sh", "-c", "cat <<A >/a && cat <<-'B' >/b\nx\nA\n\ty $A\nB"]
    assert [(d.name, d.expand, d.chomp, d.text) for d in multi.heredocs] == \
        [("A", True, False, "x\n"), ("B", False, True, "y $A\n")]
    assert expand(copy, {"A": "1"}).heredocs[0].text == '1 "q"\n'
    assert [d.text for d in expand(add, {"A": "1"}).heredocs] == ["$A\n", "1\n"]
    assert add.sources == ["<<'raw'", "<<cooked"] and not json_run.heredocs
    assert after.args == ["after", "yes"] and after.lineno == 19
    (script,) = one("FROM s\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\n")
    assert script.command() == ["/dev/pipes/EOF"]
    assert script.script_files() == {"/dev/pipes/EOF": "#!/bin/sh\necho hi\n"}
    assert "heredoc EOF has no terminating line" in refused("FROM s\nRUN <<EOF\necho\n")


# --------------------------------------------- what the fuzz run found (issue 14)

def test_deeply_nested_substitution_is_an_error_not_a_recursion_error():
    deep = "${a:-" * 495 + "x" + "}" * 495
    assert "nested more than" in refused(f"FROM s\nENV v={deep}\n")
    assert "Dockerfile:2:" in refused("FROM s\nENV v=" + "${a:-" * 495 + "\n")         # unclosed
    ok = "${a:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(ok, {}) == "x"
    with pytest.raises(ShellWordError):
        substitute_words("${a:-" * 5000, {})


def test_deep_json_brackets_are_shell_form():
    (cmd,) = one("FROM s\nCMD " + "[" * 992 + "\n")
    assert (cmd.json_form, cmd.args) == (False, ["[" * 992])


def test_giant_numbers_are_refused_not_a_value_error():
    assert "--retries" in refused("FROM s\nHEALTHCHECK --retries=" + "9" * 4301 + " CMD true\n")
    assert "invalid signal" in refused("FROM s\nSTOPSIGNAL " + "9" * 4301 + "\n")
    assert "Dockerfile:2:" in refused("FROM s\nEXPOSE " + "9" * 4301 + "\n")
    assert "Dockerfile:2:" in refused("FROM s\nHEALTHCHECK --interval=" + "9" * 4301 + "s CMD true\n")
    (copy,) = one("FROM s\nCOPY --from=" + "9" * 4301 + " a b\n")
    assert parse("FROM s\nCOPY --from=" + "9" * 4301 + " a b\n").stage_by_name_or_index(
        copy.flags["from"]) is None


def test_patterns_never_backtrack():
    """Several stars against a long value: a backtracking regex took 6 s at 200
    characters and hours at 2,000; the automaton is linear in the value."""
    value = "a" * 20000
    assert substitute("${v//*a*a*a*b/x}", {"v": value}) == value
    assert substitute("${v##*a*a*a*b}", {"v": value}) == value
    assert substitute("${v%%a*a*a}", {"v": value}) == ""
    assert substitute("${v//a/-}", {"v": "banana"}) == "b-n-n-"
    assert substitute("${v//*/x}", {"v": "abc"}) == "x"          # Go's ReplaceAll: one match
    assert substitute("${v//?/x}", {"v": "abc"}) == "xxx"


def test_directive_with_many_spaces_parses():
    """Was quadratic (a lazy group before \\s*$): 65,000 spaces took 31 s;
    tests/benchmarks/bench_parser.py shows the scaling."""
    text = "#a=x" + " " * 65000 + "y\nFROM s\nRUN true\n"
    assert parse(text).directives == {}


def test_long_values_over_continuation_lines():
    """ENV x= + 1 M characters split over continuation lines (was 27 s)."""
    text = "FROM s\nENV x=" + ("a" * 60000 + "\\\n") * 17 + "b\n"
    (env,) = one(text)
    assert expand(env, {}).args == ["x", "a" * 60000 * 17 + "b"]
    assert substitute_words("$x " * 30000, {"x": "1 2"}) == ["1", "2"] * 30000


# ------------------------------------------------------------------ fuzzing

SIGNIFICANT = list("FROMRUNCMDENVLABELARGCOPYADDHEALTHCHECKSTOPSIGNALEXPOSEONBUILDSHELLWORKDIRUSER"
                   "$ {}[]\"'\\`#=:-+?%/*,.09aZ\t\r\n") + ["${", "\\\n", "NaN", "--", "FROM s\n",
                                                         "# escape=`\n", "<<EOF\n", "EOF\n"]


def _check_dockerfile(text: str) -> None:
    try:
        dockerfile = parse(text)
        for stage in dockerfile.stages:
            env = {"a": "x y", "b": ""}
            for instr in stage.instructions:
                new = expand(instr, env)
                if instr.cmd == "HEALTHCHECK":
                    new.healthcheck()
                if instr.cmd == "COPY" and "from" in instr.flags:
                    dockerfile.stage_by_name_or_index(instr.flags["from"])
    except DockerfileError as e:
        assert "\n" not in str(e) and re.match(r"^Dockerfile:\d*:? ?", str(e)), str(e)
        assert str(e).startswith("Dockerfile:"), str(e)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SIGNIFICANT), max_size=120).map("".join))
def test_fuzz_random_dockerfiles(text):
    _check_dockerfile(text)
    _check_dockerfile("FROM s\n" + text)
    _check_dockerfile("FROM s\nENV v=" + text.replace("\n", " "))


def _corpus_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.Dockerfile"))]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_corpus(data):
    texts = _corpus_texts()
    text = data.draw(st.sampled_from(texts))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        piece = data.draw(st.sampled_from(SIGNIFICANT))
        if how == "insert":
            text = text[:at] + piece + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20)):]
        elif how == "replace":
            text = text[:at] + piece + text[at + 1:]
        else:
            text = text[:at] + piece * data.draw(st.integers(2, 600)) + text[at:]
    _check_dockerfile(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list("${}:-+?#%/*\\'\"` abxy") + ["${a", "${b:-", "${a//"]),
                max_size=80).map("".join),
       st.sampled_from(["\\", "`"]))
def test_fuzz_substitution(word, escape):
    env = {"a": "x*y/z", "b": "", "x": "1 2"}
    for func in (substitute, substitute_words):
        try:
            func(word, env, escape)
        except ShellWordError as e:
            assert "\n" not in str(e)
