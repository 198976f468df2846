"""Generated host files (jail.conf, fstab, ...) come from jinja2 templates.

Templates live in `<repo>/templates` in a checkout, and in
`<prefix>/share/jocker/templates` once installed (the FreeBSD port installs
them under /usr/local/share/jocker/templates).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from .errors import JockerError, UsageError


def template_dirs() -> list[Path]:
    """Candidate template directories, in search order (existing ones only)."""
    candidates = [
        Path(__file__).resolve().parents[1] / "templates",
        Path(sys.prefix) / "share" / "jocker" / "templates",
        Path("/usr/local/share/jocker/templates"),
    ]
    return [d for d in candidates if d.is_dir()]


def jailquote(value: object) -> str:
    """Quote one value for jail.conf(5): a double-quoted string.

    jaillex.l reads backslash escapes and expands `$var` / `${var}` inside
    double quotes, so `\\`, `"` and `$` are escaped. A newline (or any other
    control character) could end the parameter and start a new one, so it is
    refused rather than escaped.
    """
    text = str(value)
    bad = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise UsageError(f"value {text!r} contains a control character "
                         f"({bad!r}); jail.conf values must be one line")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


@functools.lru_cache(maxsize=1)
def _environment():
    # jinja2 is imported only when something is rendered: the jail driver's
    # other code runs in the per-container supervisor, which must stay small.
    import jinja2
    dirs = template_dirs()
    if not dirs:
        raise JockerError("jocker templates not found",
                         hint="reinstall jocker: expected /usr/local/share/jocker/templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jailquote"] = jailquote
    return env


def render(name: str, /, **variables: object) -> str:
    """Render template `name` with `variables`; a missing variable is an error."""
    return _environment().get_template(name).render(**variables)
