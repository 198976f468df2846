"""Tests for .dockerignore parsing and matching (jocker.builder.dockerignore)."""

import pytest

from jocker.builder.dockerignore import (IgnoreMatcher, clean_path, glob_match, has_magic,
                                       parse_lines)
from jocker.errors import UsageError


def m(text):
    return IgnoreMatcher.from_text(text)


@pytest.mark.parametrize("path,want", [
    ("", "."), (".", "."), ("./a", "a"), ("a//b", "a/b"), ("a/b/../c", "a/c"),
    ("/a/./b/", "/a/b"), ("../a", "../a"), ("/../a", "/a"), ("a/../..", ".."),
])
def test_clean_path_like_go(path, want):
    assert clean_path(path) == want


def test_parse_comments_blanks_whitespace_and_cleaning():
    text = "\ufeff# a comment\n\n   \n  *.log  \n/abs\n./rel\n!  keep.log\na//b/../c\n #not-a-comment\n"
    assert parse_lines(text) == [
        ("*.log", False), ("abs", False), ("rel", False), ("keep.log", True),
        ("a/c", False), ("#not-a-comment", False),
    ]


def test_lone_bang_is_an_error():
    with pytest.raises(UsageError, match="illegal exclusion"):
        parse_lines("!\n")


def test_bad_pattern_is_a_usage_error():
    for bad in ("[abc", "a\\", "[]", "[z-a]"):
        with pytest.raises(UsageError, match="syntax error in pattern"):
            m(bad)


def test_star_and_question_stay_in_one_segment():
    ig = m("*.log\nfile?.txt\n")
    assert ig.matches("a.log")
    assert not ig.matches("sub/a.log")
    assert ig.matches("file1.txt")
    assert not ig.matches("file12.txt")
    assert not glob_match("*", "a/b")
    assert glob_match("a/*", "a/b")


def test_double_star_spans_any_depth_including_zero():
    ig = m("**/*.pyc\n")
    assert ig.matches("x.pyc")
    assert ig.matches("a/b/c/x.pyc")
    assert not ig.matches("a/b/x.py")
    ig = m("foo/**/bar\n")
    assert ig.matches("foo/bar")
    assert ig.matches("foo/x/y/bar")
    assert not ig.matches("foox/bar")
    assert m("**\n").matches("anything/at/all")


def test_character_classes_and_escapes():
    ig = m("[a-c].txt\n[^x]y\nlit\\*\n")
    assert ig.matches("b.txt")
    assert not ig.matches("d.txt")
    assert ig.matches("zy")
    assert not ig.matches("xy")
    assert ig.matches("lit*")
    assert not ig.matches("litx")
    assert not glob_match("a[^x]b", "a/b")  # a class never matches the separator


def test_directory_pattern_covers_everything_below():
    ig = m("build\n/node_modules\n")
    assert ig.matches("build")
    assert ig.matches("build/a/b.o")
    assert ig.matches("node_modules/x/index.js")
    assert not ig.matches("src/build.py")
    assert not ig.matches(".")


def test_exceptions_last_match_wins():
    ig = m("*.md\n!README.md\n")
    assert ig.matches("CHANGES.md")
    assert not ig.matches("README.md")
    ig = m("!README.md\n*.md\n")  # the later exclusion wins again
    assert ig.matches("README.md")


def test_exception_inside_excluded_directory():
    ig = m("docs\n!docs/keep\n")
    assert ig.matches("docs")
    assert ig.matches("docs/other.txt")
    assert not ig.matches("docs/keep")
    assert not ig.matches("docs/keep/deep/file")
    assert ig.may_contain_exceptions("docs")
    assert not ig.may_contain_exceptions("other")


def test_may_contain_exceptions_is_false_without_exceptions():
    ig = m("docs\n")
    assert not ig.may_contain_exceptions("docs")
    assert m("x\n!**/keep\n").may_contain_exceptions("x/y/z")
    assert m("x\n!x/*/keep\n").may_contain_exceptions("x/anything")
    assert not m("x\n!x/a*/keep\n").may_contain_exceptions("x/b")


def test_from_file(tmp_path):
    assert not IgnoreMatcher.from_file(str(tmp_path / "missing"))
    (tmp_path / ".dockerignore").write_text("secret\n")
    assert IgnoreMatcher.from_file(str(tmp_path / ".dockerignore")).matches("secret")


def test_has_magic():
    assert has_magic("a*") and has_magic("a?") and has_magic("[a]") and has_magic("a\\b")
    assert not has_magic("plain/path.txt")
