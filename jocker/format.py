"""Docker's output habits: human sizes and durations, aligned tables, and the
subset of Go templates that `--format` users write ({{.Field}}, {{json .}},
the `table` prefix), and the line `docker events` prints for an event."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Iterable, Mapping, Sequence

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(n: float, digits: int = 3) -> str:
    """Decimal units (go-units): 3 significant digits as `docker images`
    prints, 4 for the build's "Sending build context" line."""
    n = float(n)
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.{digits}g}{_UNITS[i]}"


_BINARY = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """A size as Docker's flags and jocker.conf write it, binary units:
    `512m`, `4G`, `2GB`, `1048576` -> bytes. ValueError when it is not one."""
    t = str(text).strip().upper()
    if len(t) > 1 and t.endswith("B") and t[-2] in _BINARY:
        t = t[:-1]
    unit = _BINARY.get(t[-1:], 0) if t else 0
    number = t[:-1] if unit else t
    if not number or not number.replace(".", "", 1).isdigit():
        raise ValueError(f"invalid size {text!r}")
    return int(float(number) * (unit or 1))


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def ago(ts: float, now: float | None = None) -> str:
    if not ts:
        return "N/A"
    return human_duration((now or time.time()) - ts) + " ago"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns as Docker's tabwriter makes them (minimum width 10, padding
    3): each column is its widest cell plus three spaces, at least ten."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    widths = [max(w + 3, 10) for w in widths]
    lines = []
    for r in [list(headers)] + rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def ellipsis(text: str, width: int) -> str:
    """docker/cli's Ellipsis: at most `width` characters, the last one "…"."""
    return text if len(text) <= width else text[:width - 1] + "…"


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, Go escapes, printable Unicode kept."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


_FIELD = re.compile(r"{{\s*(?:json\s+)?\.([A-Za-z_][A-Za-z0-9_.]*)?\s*}}")   # for table headers


def render_template(template: str, obj: Mapping[str, Any]) -> str:
    """--format: a Go text/template (jocker/gotemplate.py) with Docker's
    functions; `\\t` and `\\n` typed in the shell become tab and newline."""
    from .gotemplate import render
    return render(template.replace("\\t", "\t").replace("\\n", "\n"), obj)


def format_rows(fmt: str, rows: list[Mapping[str, Any]]) -> str:
    """Apply --format to rows; a `table ` prefix keeps a header line."""
    if fmt.startswith("table"):
        body = fmt[len("table"):].strip()
        headers = [re.sub(r"(?<!^)(?=[A-Z][a-z])", " ", f.rsplit(".", 1)[-1]).upper()
                   for f in _FIELD.findall(body)]
        cells = [render_template(body, r).split("\t") for r in rows]
        if "\t" in body.replace("\\t", "\t"):
            return table(headers, cells)
        return "\n".join([" ".join(headers)] + ["\t".join(c) for c in cells])
    return "\n".join(render_template(fmt, r) for r in rows)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


# -- events (`jocker events`) --------------------------------------------------------
# The docker CLI's default line,
#   2026-11-28T09:00:00.000000000Z container start 4f2b... (image=alpine, name=web)
# (the time in the local zone, attributes sorted by key), and the view a Go
# template sees, named as Docker's Go type names its fields (.Type, .Action,
# .Actor.ID, .Actor.Attributes, .Status, .ID, .From, .Scope, .Time, .TimeNano).

def rfc3339_nano(ns: int) -> str:
    """Go's "2006-01-02T15:04:05.000000000Z07:00" in the local zone."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    tm = time.localtime(secs)
    off = tm.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{frac:09d}{zone}"


def event_line(msg: dict) -> str:
    actor = msg.get("Actor", {})
    ns = msg.get("timeNano") or int(msg.get("time", 0)) * 1_000_000_000
    out = f"{rfc3339_nano(ns)} {msg.get('Type', '')} {msg.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        out += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return out


def event_view(msg: dict) -> dict:
    actor = msg.get("Actor", {})
    return {"Status": msg.get("status", ""), "ID": msg.get("id", ""), "From": msg.get("from", ""),
            "Type": msg.get("Type", ""), "Action": msg.get("Action", ""),
            "Actor": {"ID": actor.get("ID", ""), "Attributes": dict(actor.get("Attributes") or {})},
            "Scope": msg.get("scope", "local"), "Time": msg.get("time", 0), "TimeNano": msg.get("timeNano", 0)}
