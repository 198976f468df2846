"""Docker's filters, in one place: the CLI's `-f KEY=VALUE` flags become the
API's filters object (`{"KEY": ["VALUE", ...]}`); label filters
(`label=KEY[=VALUE]`, and for prune `label!=KEY[=VALUE]`) are matched here."""

from __future__ import annotations

from .errors import UsageError

# The filter keys each list accepts.
PS_FILTERS = ("id", "name", "label", "status", "ancestor", "exited", "volume", "health")
IMAGE_FILTERS = ("dangling", "label", "reference", "before", "since")
VOLUME_FILTERS = ("dangling", "name", "label")
NETWORK_FILTERS = ("name", "driver", "label", "id")
EVENT_FILTERS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin",
                 "scope", "secret", "service", "type", "volume")

LabelFilter = tuple[str, "str | None", bool]      # key, value (None: any), positive


def from_flags(items: list[str], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """`-f KEY=VALUE` flags as Docker's filters object; unknown keys refused."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"invalid filter {item!r}", hint="supported: " + ", ".join(
                f"{k}=..." for k in allowed))
        out.setdefault(key, []).append(value)
    return out


def pairs(filters: dict[str, list[str]] | None, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    """Docker's filters object as (key, value) pairs; unknown keys refused."""
    out = []
    for key, values in (filters or {}).items():
        if key not in allowed:
            raise UsageError(f"invalid filter {key!r}", hint="supported: " + ", ".join(allowed))
        if isinstance(values, dict):              # the API's older {"VALUE": true} form
            values = [v for v, on in values.items() if on]
        out += [(key, v) for v in values]
    return out


def label_filter(value: str, positive: bool = True) -> LabelFilter:
    key, sep, val = value.partition("=")
    return key, (val if sep else None), positive


def prune_label_filters(filters: dict[str, list[str]] | None) -> list[LabelFilter]:
    """The label filters prune takes: `label` and `label!`."""
    return [label_filter(v, key == "label") for key, v in pairs(filters, ("label", "label!"))]


def labels_match(labels: dict, filters: list[LabelFilter]) -> bool:
    """Every filter holds: a positive one has the label (with that value, when
    given), a negative one has not."""
    for key, value, positive in filters:
        has = key in labels and (value is None or labels[key] == value)
        if has != positive:
            return False
    return True
