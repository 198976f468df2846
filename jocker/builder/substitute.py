"""Shell-like word processing of Dockerfile arguments (no shell is involved).

Docker expands variables itself, before anything runs, in ADD, COPY, ENV,
EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG. The rules are a
small subset of POSIX sh: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}`,
`${VAR:?word}` (and the colon-less forms), the pattern operators `${VAR#pat}`,
`${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}` and
`${VAR//pat/repl}` (`*`, `?` and escapes; as buildkit's lexer, which moby's
builder vendors), single quotes (literal), double
quotes (variables expanded), and the Dockerfile's escape character (`\\` or the
backtick chosen by `# escape=`). Quote characters are removed, as the shell
would remove them. RUN/CMD/ENTRYPOINT are not processed here: the shell in the
container does it.

Also here: the splitting passes that come before substitution (blank-split
fields, quote-aware words for ENV/LABEL/ARG, `key=value` pairs, leading
`--flags`). Pure functions; errors are `ShellWordError` with Docker's wording,
which the Dockerfile parser prefixes with `file:line: INSTRUCTION:`.
"""

from __future__ import annotations

import re

# Docker splits instruction arguments on these (note: no newline, lines are joined).
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
# Characters that name a special shell parameter after `$` (`$$`, `$?`, ...).
# Docker treats them as variable names that are never set, so they expand to "".
_SPECIAL_PARAMS = "@*#?-$!0"


class ShellWordError(ValueError):
    """A word that cannot be processed (unterminated quote or `${`...)."""


def substitute(text: str, env: dict[str, str], escape: str = "\\", *, quotes: bool = True) -> str:
    """Expand variables and remove quotes/escapes, keeping whitespace (one word).
    quotes=False leaves quote characters as they are (heredoc bodies)."""
    value, _ = _Lexer(text, env, escape, quotes).run()
    return value


def substitute_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Like `substitute`, then split into words; only EXPOSE does this in Docker.

    Text that came from a variable splits on whitespace; quoted or escaped text
    does not (so `EXPOSE $PORTS` with PORTS="80 443" gives two ports).
    """
    _, words = _Lexer(text, env, escape).run()
    return words


def split_fields(text: str) -> list[str]:
    """Split on runs of blanks, without any quote handling (FROM, EXPOSE, COPY...)."""
    text = text.strip()
    return _WHITESPACE.split(text) if text else []


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes in the words.

    This is the first pass for ENV, LABEL and ARG: `A="x y" B=z` gives
    `['A="x y"', 'B=z']`; quote removal happens later in `substitute`.
    A trailing lone escape character is dropped, as Docker does.
    """
    words: list[str] = []
    word: list[str] = []
    quote = ""
    keep_empty = False  # a word made only of quotes (`""`) still counts
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if not quote and ch.isspace():
            if word or keep_empty:
                words.append("".join(word))
            word, keep_empty = [], False
        elif ch == escape and quote != "'":
            if i + 1 < n:
                word.append(text[i:i + 2])  # escape plus the escaped char, verbatim
                i += 1
            else:
                quote = ""  # dangling escape at the end: drop it
        else:
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote, keep_empty = ch, True
            word.append(ch)
        i += 1
    if word or keep_empty:
        words.append("".join(word))
    return words


def split_key_values(text: str, escape: str = "\\") -> list[tuple[str, str]]:
    """The (raw) pairs of an ENV or LABEL line, in either of Docker's two forms.

    `key=value key2="value 2"` gives one pair per word; the legacy form
    `key value with spaces` (first word has no `=`) gives a single pair whose
    value is the rest of the line. Values are still raw (quotes, `$VAR`).
    """
    words = split_words(text, escape)
    if not words:
        raise ShellWordError("requires at least one argument")
    if "=" not in words[0]:
        parts = _WHITESPACE.split(text.strip(), maxsplit=1)
        if len(parts) < 2:
            raise ShellWordError("must have two arguments")
        pairs = [(parts[0], parts[1])]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise ShellWordError(
                    f"syntax error - can't find = in {word!r}. Must be of the form: name=value")
            key, value = word.split("=", 1)
            pairs.append((key, value))
    if any(not key for key, _ in pairs):
        raise ShellWordError("names can not be blank")
    return pairs


def extract_flags(text: str, escape: str = "\\") -> tuple[str, list[str]]:
    """Split leading `--name[=value]` words off the arguments; `--` ends them.

    Flag words lose their quotes and escape characters (the escape
    directive's), as in Docker.
    """
    flags: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if not text.startswith("--", i):
            return text[i:], flags
        word, i, quoted = _flag_word(text, i, escape)
        if word == "--":
            return text[i:], flags
        if word or quoted:
            flags.append(word)


def _flag_word(text: str, i: int, escape: str) -> tuple[str, int, bool]:
    out: list[str] = []
    quote, quoted = "", False
    while i < len(text) and (quote or not text[i].isspace()):
        ch = text[i]
        i += 1
        if ch == quote:
            quote = ""
            continue
        if not quote and ch in "'\"":
            quote, quoted = ch, True
            continue
        if ch == escape:
            if i == len(text):
                break
            ch = text[i]
            i += 1
        out.append(ch)
    return "".join(out), i, quoted


class _Words:
    """Collects words for `substitute_words`: variable text splits, literal text does not."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.parts: list[str] = []      # the current word, joined once (linear time)
        self.in_word = False

    def add_splittable(self, text: str) -> None:
        pieces = _SPLIT.split(text)
        for i, piece in enumerate(pieces):
            if i:                       # whitespace came before this piece
                self._end()
            if piece:
                self.add_literal(piece)

    def add_literal(self, text: str) -> None:
        self.parts.append(text)
        self.in_word = True

    def _end(self) -> None:
        if self.in_word and self.parts:
            word = "".join(self.parts)
            if word:
                self.words.append(word)
        self.parts, self.in_word = [], False

    def done(self) -> list[str]:
        self._end()
        return self.words


_SPLIT = re.compile(r"\s+")
MAX_NESTING = 100       # ${a:-${b:-...}} levels; deeper input is refused, not a RecursionError
_PATTERN_OPS = "#%/"


STAR, ANY = object(), object()     # glob tokens besides literal characters


def _glob_tokens(pattern: str) -> list:
    """A shell pattern as tokens: STAR (`*`), ANY (`?`), else a literal
    character; the escape (always `\\` here: the pattern was read with
    escapes kept) makes the next character literal; brackets are literal
    (as buildkit)."""
    out: list = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            if not out or out[-1] is not STAR:
                out.append(STAR)
        else:
            out.append(ANY if ch == "?" else ch)
        i += 1
    return out


# Patterns are matched by simulating their automaton (a set of positions in
# the token list), never by a backtracking regex: time O(len(value) *
# len(pattern)) whatever the stars (Go's RE2 gives buildkit the same).

def _closure(states: set[int], tokens: list) -> set[int]:
    todo, out = list(states), set()
    while todo:
        k = todo.pop()
        if k not in out:
            out.add(k)
            if k < len(tokens) and tokens[k] is STAR:
                todo.append(k + 1)
    return out


def _step(states, ch: str, tokens: list) -> set[int]:
    nxt = set()
    for k in states:
        if k < len(tokens):
            t = tokens[k]
            if t is STAR:
                nxt.add(k)
            elif t is ANY or t == ch:
                nxt.add(k + 1)
    return _closure(nxt, tokens)


def _prefix_end(value: str, tokens: list, longest: bool) -> int | None:
    """The end of the shortest (or longest) prefix of value the pattern matches."""
    states, found = _closure({0}, tokens), None
    for i in range(len(value) + 1):
        if len(tokens) in states:
            found = i
            if not longest:
                break
        if i == len(value) or not states:
            break
        states = _step(states, value[i], tokens)
    return found


def _search(value: str, tokens: list, pos: int) -> tuple[int, int] | None:
    """The leftmost match at or after pos, longest for that start."""
    accept, best = len(tokens), None
    threads: dict[int, int] = {}            # automaton state -> earliest start reaching it
    start_states = _closure({0}, tokens)
    i = pos
    while True:
        if best is None:
            for k in start_states:
                threads.setdefault(k, i)
        if accept in threads:
            s = threads[accept]
            if best is None or s < best[0] or (s == best[0] and i > best[1]):
                best = (s, i)
        if best is not None:
            threads = {k: s for k, s in threads.items() if s <= best[0]}
        if i == len(value) or not threads:
            return best
        nxt: dict[int, int] = {}
        for k, s in sorted(threads.items(), key=lambda kv: kv[1]):
            for k2 in _step({k}, value[i], tokens):
                nxt.setdefault(k2, s)
        threads = nxt
        i += 1


def _trim(value: str, op: str, pattern: str) -> str:
    """${v#p} ${v##p} (prefix) and ${v%p} ${v%%p} (suffix); the doubled form
    removes the longest match. A suffix is matched as a prefix of the reversed
    value with the pattern's tokens reversed."""
    tokens = _glob_tokens(pattern)
    if op[0] == "%":
        value, tokens = value[::-1], tokens[::-1]
    end = _prefix_end(value, tokens, longest=len(op) == 2)
    rest = value[end:] if end is not None else value
    return rest[::-1] if op[0] == "%" else rest


def _replace(value: str, every: bool, pattern: str, replacement: str) -> str:
    """${v/p/r} (first match) and ${v//p/r} (all, an empty match right
    after a match skipped, as Go's ReplaceAll); r is used as written."""
    if not pattern and every:
        return value
    tokens = _glob_tokens(pattern)
    out: list[str] = []
    pos, prev_end = 0, None
    while pos <= len(value):
        found = _search(value, tokens, pos)
        if found is None:
            break
        s, e = found
        if s == e == prev_end:
            if s >= len(value):
                break
            out.append(value[pos:s + 1])
            pos, prev_end = s + 1, None
            continue
        out += [value[pos:s], replacement]
        prev_end = e
        if e > s:
            pos = e
        elif s >= len(value):
            pos = s
            break
        else:
            out.append(value[s])
            pos = s + 1
        if not every:
            break
    out.append(value[pos:])
    return "".join(out)


class _Lexer:
    """One pass over a word: expands `$...`, removes quotes and escapes.

    Output is collected in lists and joined once, and plain runs are taken
    with one regex step, so the time is linear in the input; `${...}`
    nesting is bounded (MAX_NESTING) instead of the interpreter's stack."""

    def __init__(self, text: str, env: dict[str, str], escape: str, quotes: bool = True):
        self.text = text
        self.quotes = "'\"" if quotes else ""
        self.pos = 0
        self.env = env
        self.escape = escape
        self.depth = 0
        self.stopped = ""
        self._plain: dict[str, re.Pattern] = {}     # per stop set: runs of ordinary characters

    def peek(self) -> str:
        """The next character, or "" at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += len(ch)
        return ch

    def run(self, stop: str = "", raw: bool = False) -> tuple[str, list[str]]:
        """Process up to a character of `stop` (consumed) or the end; returns
        (text, words). `raw` keeps escape characters (shell patterns)."""
        out: list[str] = []
        words = _Words()
        if stop not in self._plain:
            self._plain[stop] = re.compile("[^$" + re.escape(self.quotes + self.escape + stop) + "]+")
        ordinary = self._plain[stop]
        while self.pos < len(self.text):
            plain = ordinary.match(self.text, self.pos)
            if plain:
                piece = plain.group()
                self.pos = plain.end()
                words.add_splittable(piece)
                out.append(piece)
                continue
            ch = self.text[self.pos]
            if stop and ch in stop:
                self.pos += 1
                self.stopped = ch
                return "".join(out), words.done()
            if ch == "$":
                piece = self._dollar()
                words.add_splittable(piece)
            elif ch == "'":
                piece = self._single_quoted()
                words.add_literal(piece)
            elif ch == '"':
                piece = self._double_quoted()
                words.add_literal(piece)
            elif ch == self.escape:
                self.pos += 1
                ch = self.take()  # the escaped char is literal; a final escape vanishes
                if not ch:
                    break
                words.add_literal(ch)
                piece = ("\\" + ch) if raw else ch
            out.append(piece)
        if stop:
            shown = "}" if "}" in stop else stop
            raise ShellWordError(f"unexpected end of statement while looking for matching {shown}")
        return "".join(out), words.done()

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ShellWordError("unexpected end of statement while looking for matching single-quote")
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        special = re.compile('["$' + re.escape(self.escape) + "]")
        while True:
            m = special.search(self.text, self.pos)
            if not m:
                raise ShellWordError("unexpected end of statement while looking for matching double-quote")
            out.append(self.text[self.pos:m.start()])
            self.pos = m.start()
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            # Inside double quotes the escape only protects ", $ and itself;
            # anything else keeps the escape character (like sh's backslash).
            if self.peek() in ('"', "$", self.escape) and self.peek():
                ch = self.take()
            elif not self.peek():
                continue
            out.append(ch)

    def _name(self) -> str:
        """A variable name after `$`: digits, one special char, or [letters digits _]."""
        start = self.pos
        ch = self.peek()
        if ch.isdecimal():
            while self.peek().isdecimal():
                self.pos += 1
        elif ch and ch in _SPECIAL_PARAMS:
            self.pos += 1
        else:
            while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
                self.pos += 1
        return self.text[start:self.pos]

    def _dollar(self) -> str:
        self.pos += 1  # the `$`
        if self.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1  # the `{`
        if not self.peek():
            raise ShellWordError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ShellWordError("syntax error: bad substitution")
        name = self._name()
        ch = self.take()
        if ch == "}":
            return self.env.get(name, "")
        if not ch:
            raise ShellWordError("syntax error: missing '}'")
        colon = ch == ":"
        modifier = self.take() if colon else ch
        if not modifier:
            raise ShellWordError("syntax error: missing '}'")
        if modifier in _PATTERN_OPS and not colon:
            return self._nested(self._pattern_op, name, modifier)
        if modifier not in "-+?":
            raise ShellWordError(f"unsupported modifier ({modifier}) in substitution")
        word = self._nested(self._word)
        return self._modify(name, modifier, colon, word)

    def _nested(self, func, *args) -> str:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ShellWordError(f"${{...}} nested more than {MAX_NESTING} levels deep")
        try:
            return func(*args)
        finally:
            self.depth -= 1

    def _word(self, stop: str = "}", raw: bool = False) -> str:
        try:
            word, _ = self.run(stop=stop, raw=raw)  # the word may itself hold quotes and `$`
        except ShellWordError:
            if not self.peek():
                raise ShellWordError("syntax error: missing '}'") from None
            raise
        return word

    def _pattern_op(self, name: str, op: str) -> str:
        """`${name#pat}`, `##`, `%`, `%%`, `/pat/repl`, `//pat/repl`."""
        if op in "#%" and self.peek() == op:
            op += self.take()
        elif op == "/" and self.peek() == "/":
            op += self.take()
        value = self.env.get(name, "")
        if op[0] != "/":
            return _trim(value, op, self._word(raw=True))
        pattern = self._word(stop="/}", raw=True)
        if self.stopped != "/":
            raise ShellWordError(f"syntax error: missing '/' in ${{{name}{op}{pattern}}}")
        replacement = self._word(raw=True)
        return _replace(value, op == "//", pattern, replacement)

    def _modify(self, name: str, modifier: str, colon: bool, word: str) -> str:
        """`${name-word}` and friends; with the colon an empty value counts as unset."""
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if modifier == "-":
            return value if is_set else word  # type: ignore[return-value]
        if modifier == "+":
            return word if is_set else ""
        if not is_set:  # "?"
            reason = "is not allowed to be empty" if value == "" else "is not allowed to be unset"
            raise ShellWordError(f"{name}: {word or reason}")
        return value  # type: ignore[return-value]
