""".dockerignore: which files of a build context the builder never sees.

The rules, as Docker applies them:
  * one pattern per line; a line whose first character is `#` is a comment;
    surrounding whitespace is trimmed and blank lines are skipped;
  * a leading `!` turns the pattern into an exception (re-include);
  * patterns are cleaned like Go's filepath.Clean, then a leading `/` is
    dropped, so `/a`, `./a` and `a//b/../a` all mean the same thing;
  * `*` and `?` never cross a `/`, `[...]` is a character class (`^` negates),
    `\\` escapes the next character, and `**` spans any number of
    directories, zero included (`**/x` also matches a top-level `x`);
  * a pattern that matches a directory also covers everything below it;
  * the last pattern that matches a path decides whether it is ignored.

The glob translation is shared with COPY/ADD sources (Go filepath.Match
semantics: the same syntax without the `**` extension).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from ..errors import UsageError

_MAGIC = frozenset("*?[\\")


def clean_path(path: str) -> str:
    """Lexically clean a slash-separated path the way Go's filepath.Clean does."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            # ".." at the root of a rooted path stays at the root
            continue
        parts.append(seg)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def has_magic(pattern: str) -> bool:
    """True if `pattern` uses glob syntax (and so needs matching, not a stat)."""
    return any(c in _MAGIC for c in pattern)


def _bad_pattern(pattern: str, why: str) -> UsageError:
    return UsageError(f"syntax error in pattern {pattern!r}: {why}")


def _class_char(pattern: str, j: int) -> tuple[str, int]:
    if j >= len(pattern):
        raise _bad_pattern(pattern, "unterminated character class")
    c = pattern[j]
    if c == "\\":
        if j + 1 >= len(pattern):
            raise _bad_pattern(pattern, "trailing backslash")
        return pattern[j + 1], j + 2
    if c == "-":
        raise _bad_pattern(pattern, "unescaped '-' in character class")
    return c, j + 1


def _translate_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate the `[...]` starting at pattern[i]; return (regex, next index)."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] == "^"
    if negate:
        j += 1
    items: list[str] = []
    while True:
        if j >= len(pattern):
            raise _bad_pattern(pattern, "unterminated character class")
        if pattern[j] == "]":
            if not items:
                raise _bad_pattern(pattern, "empty character class")
            j += 1
            break
        lo, j = _class_char(pattern, j)
        if j < len(pattern) and pattern[j] == "-":
            hi, j = _class_char(pattern, j + 1)
            if hi < lo:
                raise _bad_pattern(pattern, f"bad range {lo}-{hi}")
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            items.append(re.escape(lo))
    body = "".join(items)
    # A class never matches the separator, like `?` (Go leaves this undefined).
    if negate:
        return f"[^/{body}]", j
    return f"(?!/)[{body}]", j


def translate(pattern: str, *, doublestar: bool) -> str:
    """Translate a glob into an (unanchored) regular expression body."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if doublestar and pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                    out.append("(?:.*/)?")  # zero or more whole directories
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            cls, i = _translate_class(pattern, i)
            out.append(cls)
            continue
        elif c == "\\":
            if i + 1 >= n:
                raise _bad_pattern(pattern, "trailing backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str, doublestar: bool = False) -> re.Pattern[str]:
    """A compiled, fully anchored matcher for a glob (use .fullmatch)."""
    return re.compile(translate(pattern, doublestar=doublestar), re.DOTALL)


def glob_match(pattern: str, name: str) -> bool:
    """Go filepath.Match: does the whole of `name` match `pattern`?"""
    return compile_glob(pattern).fullmatch(name) is not None


@dataclass(frozen=True)
class Pattern:
    text: str          # cleaned pattern, without the leading "!"
    exception: bool    # a "!" line: re-includes what it matches
    regex: re.Pattern[str]


def parse_lines(text: str) -> list[tuple[str, bool]]:
    """The (cleaned pattern, is_exception) pairs of a .dockerignore text."""
    text = text.removeprefix("\ufeff")
    result: list[tuple[str, bool]] = []
    for line in text.splitlines():
        # Docker only treats a line as a comment if "#" is its very first byte.
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
            if not line:
                raise UsageError('illegal exclusion pattern: "!" in .dockerignore')
        line = clean_path(line)
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
        result.append((line, exception))
    return result


def _ancestors(path: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b'] (the directories that contain the path)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class IgnoreMatcher:
    """Decides which context-relative paths a .dockerignore hides."""

    def __init__(self, lines: list[tuple[str, bool]] | None = None):
        self.patterns = [Pattern(text, exc, compile_glob(text, doublestar=True))
                         for text, exc in (lines or [])]
        self.has_exceptions = any(p.exception for p in self.patterns)

    @classmethod
    def from_text(cls, text: str) -> "IgnoreMatcher":
        return cls(parse_lines(text))

    @classmethod
    def from_file(cls, path: str) -> "IgnoreMatcher":
        """Read a .dockerignore; a missing file ignores nothing."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return cls()
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from e
        return cls.from_text(data.decode("utf-8", errors="surrogateescape"))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, relpath: str) -> bool:
        """True if the context-relative `relpath` is ignored."""
        if not self.patterns:
            return False
        path = clean_path(relpath.replace(os.sep, "/")).lstrip("/")
        if path in (".", ""):
            return False  # the context root itself is never ignored
        candidates = _ancestors(path) + [path]
        ignored = False
        for pat in self.patterns:
            # A pattern matching any enclosing directory covers the path too.
            if any(pat.regex.fullmatch(c) for c in candidates):
                ignored = not pat.exception
        return ignored

    def may_contain_exceptions(self, dir_relpath: str) -> bool:
        """Could some exception re-include a path below this (ignored) directory?

        A walker skips an ignored directory only when this is False. The
        answer is conservative: True means "descend and check each entry".
        """
        if not self.has_exceptions:
            return False
        dirpath = clean_path(dir_relpath.replace(os.sep, "/")).lstrip("/")
        dir_segs = [] if dirpath in (".", "") else dirpath.split("/")
        return any(_could_match_below(p.text.split("/"), dir_segs)
                   for p in self.patterns if p.exception)


def _could_match_below(pat_segs: list[str], dir_segs: list[str]) -> bool:
    for i, name in enumerate(dir_segs):
        if i >= len(pat_segs):
            return True   # the pattern names an ancestor of the directory
        seg = pat_segs[i]
        if "**" in seg:
            return True   # may span any depth from here on
        try:
            if not compile_glob(seg).fullmatch(name):
                return False
        except UsageError:
            return True   # an escape split by "/": be conservative

    return True
