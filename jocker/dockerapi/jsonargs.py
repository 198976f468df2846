"""Type-checked fields of JSON request bodies (exec create/start)."""

from __future__ import annotations

from ..errors import UsageError


def field(obj: dict, key: str, kind, default=None, where: str = ""):
    v = obj.get(key)
    if v is None:
        return default
    if kind is int and isinstance(v, bool):
        v = None
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if v is None or not isinstance(v, kind):
        name = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object",
                float: "number"}.get(kind, kind.__name__)
        raise UsageError(f"invalid {where}{key}: expected a JSON {name}, got {type(obj.get(key)).__name__}")
    return v


def strings(obj: dict, key: str, where: str) -> list[str] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise UsageError(f"invalid {where}{key}: expected an array of strings")
    return v
