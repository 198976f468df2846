"""Go's text/template, the part `--format` users write, with Docker's
template functions (docker/cli templates.go: json, join, split, upper,
lower, title, pad, truncate) and Go's own builtins (index, len, print,
printf, println, eq/ne/lt/le/gt/ge, and, or, not, slice).

    {{.Config.Cmd}}                 -> [sh -c exit 3]     (Go's %v of a list)
    {{.Config.Labels}}              -> map[a:b c:d]       (keys sorted)
    {{json .Config}} {{index .Config.Labels "a"}} {{join .Args ","}}
    {{range $i, $e := .Mounts}}{{$e.Destination}} {{end}}
    {{if .State.Running}}up{{else if .State.Restarting}}...{{else}}down{{end}}
    {{with .Config.User}}{{.}}{{else}}root{{end}}   {{- trims -}}

Values are JSON-shaped Python data (dicts, lists, str, int, float, bool,
None). A missing key of a JSON object that stands for a Go struct (all
its keys capitalised, as Docker's are) is an error, as for Docker's typed
data; of any other object (labels, volumes) it prints `<no value>`. A
template that does not parse raises TemplateError (docker exits 64), one
that fails on the data TemplateError of kind TEMPLATE_FAILED (exit 1).
A JSON null prints `<nil>`, except in the fields Docker's types declare
as lists or maps, where Go prints a nil slice `[]` and a nil map `map[]`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from .errors import INVALID_TEMPLATE, TEMPLATE_FAILED, UsageError

NO_VALUE = "<no value>"

# Fields of Docker's inspect types that are slices or maps: a null there is
# Go's nil slice or map, which %v prints as [] or map[] (json still null).
NIL_LISTS = frozenset(("Cmd", "Entrypoint", "Env", "OnBuild", "Shell", "Args", "Binds", "Dns",
                       "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "CapAdd", "CapDrop",
                       "Links", "SecurityOpt", "Devices", "Mounts", "RepoTags", "RepoDigests",
                       "Layers", "Healthcheck.Test", "Aliases", "Ulimits", "VolumesFrom"))
NIL_MAPS = frozenset(("Labels", "Volumes", "ExposedPorts", "Tmpfs", "PortBindings", "Ports",
                      "Networks", "StorageOpt", "Sysctls", "DriverOpts", "Options", "Data"))


class _Nil:
    """A typed nil reached through a field: prints [] or map[], JSON null."""

    def __init__(self, text: str):
        self.text = text

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0


class TemplateError(UsageError):
    kind = INVALID_TEMPLATE


def _failed(message: str) -> TemplateError:
    return TemplateError(message, kind=TEMPLATE_FAILED)


# ----------------------------------------------------------------- printing

def go_str(value: Any) -> str:
    """fmt's %v of JSON-shaped data."""
    if value is None:
        return "<nil>"
    if isinstance(value, _Nil):
        return value.text
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value, key=str)) + "]"
    return str(value)


def _go_float(f: float) -> str:
    """%v of a float64: the shortest digits, exponent form below 1e-4 or
    from 1e+06 on (strconv's 'g' with precision 6 for that choice)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    from decimal import Decimal
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exp                 # digits before the decimal point
    neg = "-" if sign else ""
    if f == 0:
        return neg + "0"
    if point - 1 < -4 or point - 1 >= 6:
        mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
        e = point - 1
        return f"{neg}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{text}"
    if point >= len(text):
        return neg + text + "0" * (point - len(text))
    return f"{neg}{text[:point]}.{text[point:]}"


def _sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def _truth(value: Any) -> bool:
    return not (value is None or isinstance(value, _Nil) or value is False or value == 0 or value == "" or
                (isinstance(value, (list, tuple, dict)) and not value))


# ----------------------------------------------------------------- functions

def _json(value: Any) -> str:
    if isinstance(value, _Nil):
        return "null"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, NO_VALUE if value and not all(isinstance(v, str) for v in value.values())
                              else "")
        elif isinstance(value, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise _failed(f"template: error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise _failed(f"template: error calling index: can't index item of type {type(value).__name__}")
    return value


def _len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, dict, _Nil)):
        return len(value)
    raise _failed(f"template: error calling len: len of type {type(value).__name__}")


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def verb(m: re.Match) -> str:
        flags, conv = m.group(1), m.group(2)
        if conv == "%":
            return "%"
        arg = next(it, None)
        if conv in "vs":
            return ("%" + flags + "s") % go_str(arg)
        if conv == "q":
            from .format import go_quote
            return go_quote(go_str(arg))
        if conv == "t":
            return go_str(bool(arg))
        try:
            return ("%" + flags + conv) % arg
        except (TypeError, ValueError):
            return f"%!{conv}({go_str(arg)})"
    return re.sub(r"%([-+# 0-9.]*)([vsdqtfgexXbo%])", verb, fmt)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def cmp(a: Any, b: Any) -> bool:
        try:
            return op(a, b)
        except TypeError:
            raise _failed("template: incompatible types for comparison") from None
    return cmp


def _and(*args: Any) -> Any:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "split": lambda s, sep: s.split(sep) if sep else list(s),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: re.sub(r"(?<![^\W_])\w", lambda m: m.group().upper(), go_str(s)),
    "pad": lambda s, before, after: " " * before + go_str(s) + " " * after,
    "truncate": lambda s, n: go_str(s)[:n],
    "index": _index,
    "len": _len,
    "slice": lambda v, *ij: v[slice(*ij)] if len(ij) <= 2 else v[ij[0]:ij[1]],
    "print": _sprint,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "printf": _printf,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "and": _and,
    "or": _or,
    "not": lambda a: not _truth(a),
}


# ----------------------------------------------------------------- lexing

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<decl>:=|=)
  | (?P<chain>(?<=\))(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<field>(?:\$[A-Za-z0-9_]*|\.[A-Za-z_][A-Za-z0-9_]*|\.)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TemplateError(f"template: unexpected {text[pos]!r} in command")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def _split(template: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", s) pieces, with {{- and -}} trimming applied."""
    pieces: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        pieces.append(("text", text))
        body = m.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            pieces.append(("action", body))
        trim_next, pos = bool(m.group(3)), m.end()
    if "{{" in template[pos:]:
        raise TemplateError("template: unclosed action")
    tail = template[pos:]
    pieces.append(("text", tail.lstrip() if trim_next else tail))
    return [p for p in pieces if p[0] == "action" or p[1]]


# ----------------------------------------------------------------- parsing

class _Node:
    def __init__(self, kind: str, pipe=None, body=None, alt=None, text: str = "", names=()):
        self.kind, self.pipe, self.body, self.alt, self.text, self.names = kind, pipe, body, alt, text, names


def _parse(pieces: list[tuple[str, str]]) -> list[_Node]:
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, [])]
    for kind, text in pieces:
        if kind == "text":
            stack[-1][1].append(_Node("text", text=text))
            continue
        word = text.split(None, 1)[0] if text else ""
        rest = text[len(word):].strip()
        if word in ("if", "range", "with"):
            names, pipe = _pipeline(rest, decl_ok=True)
            node = _Node(word, pipe, [], None, names=names)
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif word == "else":
            node = stack[-1][0]
            if node is None or node.alt is not None:
                raise TemplateError("template: unexpected {{else}}")
            node.alt = []
            if rest.startswith("if ") or rest.startswith("with "):
                inner_word, inner_rest = rest.split(None, 1)
                names, pipe = _pipeline(inner_rest, decl_ok=True)
                inner = _Node(inner_word, pipe, [], None, names=names)
                node.alt.append(inner)
                stack[-1] = (inner, inner.body)   # one {{end}} closes both
            else:
                stack[-1] = (node, node.alt)
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("template: unexpected {{end}}")
            stack.pop()
        else:
            names, pipe = _pipeline(text, decl_ok=True)
            stack[-1][1].append(_Node("action", pipe, names=names))
    if len(stack) != 1:
        raise TemplateError("template: unexpected EOF (a {{if}}, {{range}} or {{with}} lacks {{end}})")
    return stack[0][1]


def _pipeline(text: str, decl_ok: bool) -> tuple[tuple[str, ...], list[list]]:
    toks = _tokens(text)
    names: tuple[str, ...] = ()
    for i, (kind, value) in enumerate(toks):
        if kind == "decl":
            left = [v for k, v in toks[:i] if k != "punct"]
            if not decl_ok or not left or not all(v.startswith("$") for v in left):
                raise TemplateError(f"template: bad declaration in {text!r}")
            names, toks = tuple(left), toks[i + 1:]
            break
    commands: list[list] = [[]]
    depth, buf = 0, []
    for kind, value in toks:       # group ( ... ) as nested pipelines
        if value == "(" and kind == "punct":
            if depth:
                buf.append((kind, value))
            depth += 1
            continue
        if value == ")" and kind == "punct":
            depth -= 1
            if depth < 0:
                raise TemplateError("template: unexpected right paren")
            if depth:
                buf.append((kind, value))
            else:
                commands[-1].append(("pipe", _pipeline(" ".join(v for _, v in buf), False)[1]))
                buf = []
            continue
        if depth:
            buf.append((kind, value))
        elif kind == "chain" and commands[-1] and commands[-1][-1][0] == "pipe":
            commands[-1][-1] = ("pipe", commands[-1][-1][1], value[1:].split("."))
        elif value == "|" and kind == "punct":
            commands.append([])
        else:
            commands[-1].append((kind, value))
    if depth:
        raise TemplateError("template: unclosed left paren")
    if not all(commands):
        raise TemplateError(f"template: missing value for command in {text!r}")
    return names, commands


# ----------------------------------------------------------------- evaluation

def _is_struct(obj: dict) -> bool:
    return bool(obj) and all(isinstance(k, str) and k[:1].isupper() for k in obj)


def _field(base: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(base, dict):
            if part not in base and _is_struct(base):
                raise _failed(f'template: executing at <.{".".join(path)}>: map has no entry for key "{part}"')
            base = base.get(part, NO_VALUE)
            if base is None and part in NIL_LISTS:
                base = _Nil("[]")
            elif base is None and part in NIL_MAPS:
                base = _Nil("map[]")
        elif base is NO_VALUE or base is None or isinstance(base, _Nil):
            return NO_VALUE
        else:
            raise _failed(f"template: executing at <.{'.'.join(path)}>: can't evaluate field {part} "
                          f"in type {type(base).__name__}")
    return base


class _Scope:
    def __init__(self, root: Any):
        self.vars: list[dict[str, Any]] = [{"$": root}]

    def get(self, name: str) -> Any:
        for frame in reversed(self.vars):
            if name in frame:
                return frame[name]
        raise TemplateError(f"template: undefined variable: {name}")


def _operand(tok: tuple, dot: Any, scope: _Scope) -> Any:
    kind, value = tok[0], tok[1]
    if kind == "pipe":             # ( ... ), maybe followed by .Field.Sub
        result = _run_pipe(value, dot, scope)
        return _field(result, tok[2]) if len(tok) > 2 else result
    if kind == "field":
        if value.startswith("$"):
            name, *path = value.split(".")
            return _field(scope.get(name), path)
        return dot if value == "." else _field(dot, value[1:].split("."))
    if kind == "str":
        return json.loads(value)
    if kind == "raw":
        return value[1:-1]
    if kind == "char":
        return ord(json.loads('"' + value[1:-1].replace('"', '\\"') + '"'))
    if kind == "num":
        return float(value) if any(c in value for c in ".eE") else int(value)
    if kind == "ident":
        if value in ("true", "false"):
            return value == "true"
        if value == "nil":
            return None
        raise TemplateError(f'template: function "{value}" not defined')
    raise TemplateError(f"template: unexpected {value!r} in operand")


def _run_pipe(commands: list[list], dot: Any, scope: _Scope) -> Any:
    value: Any = None
    for n, cmd in enumerate(commands):
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            func = FUNCS.get(head[1])
            if func is None:
                raise TemplateError(f'template: function "{head[1]}" not defined')
            args = [_operand(t, dot, scope) for t in cmd[1:]] + ([value] if n else [])
            try:
                value = func(*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
                raise _failed(f"template: error calling {head[1]}: {e}") from None
        else:
            if len(cmd) > 1 or n:
                raise TemplateError(f"template: can't give argument to non-function {head[1]}")
            value = _operand(head, dot, scope)
    return value


def _exec(nodes: list[_Node], dot: Any, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
            continue
        value = _run_pipe(node.pipe, dot, scope)
        if node.kind == "action":
            if node.names:
                scope.vars[-1][node.names[0]] = value
            else:
                out.append(go_str(value) if value is not NO_VALUE else NO_VALUE)
        elif node.kind == "if":
            _branch(node, _truth(value), dot, scope, out)
        elif node.kind == "with":
            if _truth(value):
                scope.vars.append({n: value for n in node.names})
                _exec(node.body, value, scope, out)
                scope.vars.pop()
            elif node.alt:
                _exec(node.alt, dot, scope, out)
        else:
            _range(node, value, dot, scope, out)


def _branch(node: _Node, taken: bool, dot: Any, scope: _Scope, out: list[str]) -> None:
    if taken:
        _exec(node.body, dot, scope, out)
    elif node.alt:
        _exec(node.alt, dot, scope, out)


def _range(node: _Node, value: Any, dot: Any, scope: _Scope, out: list[str]) -> None:
    if isinstance(value, dict):
        items = [(k, value[k]) for k in sorted(value, key=str)]
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    elif value is None or value is NO_VALUE or isinstance(value, _Nil):
        items = []
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [(i, i) for i in range(value)]
    else:
        raise _failed(f"template: range can't iterate over {go_str(value)}")
    if not items:
        if node.alt:
            _exec(node.alt, dot, scope, out)
        return
    for key, item in items:
        frame: dict[str, Any] = {}
        if len(node.names) == 1:
            frame[node.names[0]] = item
        elif len(node.names) == 2:
            frame[node.names[0]], frame[node.names[1]] = key, item
        scope.vars.append(frame)
        _exec(node.body, item, scope, out)
        scope.vars.pop()


def render(template: str, data: Any) -> str:
    """Execute a Go text/template on data."""
    nodes = _parse(_split(template))
    out: list[str] = []
    _exec(nodes, data, _Scope(data), out)
    return "".join(out)
