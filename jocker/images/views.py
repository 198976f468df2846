"""What users see of images: list rows, filters, inspect JSON, history, df.
Pure functions over a State, so the CLI and the API server share them."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..errors import UsageError
from ..format import ago, human_size
from .imageconfig import CONFIG_KEYS
from .state import Image, State


def parse_filters(items: list[str], allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"invalid filter {item!r}", hint="supported: " + ", ".join(
                f"{k}=..." for k in allowed))
        out.append((key, value))
    return out


def _label_filter(value: str) -> tuple[str, str | None]:
    key, sep, val = value.partition("=")
    return key, (val if sep else None)


def image_matches(st: State, img: Image, filters: list[tuple[str, str]], tag: str | None) -> bool:
    for key, value in filters:
        if key == "dangling":
            if value not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid filter dangling={value!r}: expected true or false")
            if st.is_dangling(img) != (value in ("true", "1")):
                return False
        elif key == "label":
            k, v = _label_filter(value)
            if k not in img.labels or (v is not None and img.labels[k] != v):
                return False
        elif key == "reference":
            pattern = value if ":" in value.rsplit("/", 1)[-1] else value + ":*"
            if tag is None or not (fnmatch.fnmatchcase(tag, pattern) or
                                   fnmatch.fnmatchcase(tag.rsplit(":", 1)[0], value)):
                return False
        elif key in ("before", "since"):
            other = st.resolve(value)
            if key == "before" and not img.created < other.created:
                return False
            if key == "since" and not img.created > other.created:
                return False
    return True


def _digest_of(img: Image, repo: str | None) -> str:
    for ref in img.repo_digests:
        name, _, digest = ref.partition("@")
        if repo is None or name == repo:
            return digest
    return "<none>"


def image_rows(st: State, *, all_images: bool = False, filters: list[tuple[str, str]] = (),
               now: float | None = None) -> list[dict[str, Any]]:
    """One row per (image, tag) like `docker images`; untagged images as <none>.
    Intermediate images (untagged parents of other images) only with -a."""
    rows = []
    for img in sorted(st.images.values(), key=lambda i: (-i.created, i.hex)):
        tags = st.live_tags(img)
        if not tags and not all_images and st.children_of(img):
            continue
        if not tags and img.repo_digests:     # pulled by digest: `name <none>`
            tags = [r.split("@")[0] + ":<none>" for r in img.repo_digests]
        for tag in tags or [None]:
            if not image_matches(st, img, list(filters), tag):
                continue
            repo, _, t = tag.rpartition(":") if tag else ("<none>", "", "<none>")
            rows.append({"Repository": repo, "Tag": t, "ID": img.short, "FullID": img.id,
                         "CreatedSince": ago(img.created, now), "CreatedAt": img.config.get("created", ""),
                         "Size": human_size(img.size), "VirtualSize": human_size(img.size),
                         "Containers": str(len(img.containers)),
                         "Digest": _digest_of(img, repo if tag else None)})
    return rows


def inspect_image(st: State, img: Image) -> dict[str, Any]:
    cfg = img.config
    container = {k: cfg.get("config", {}).get(k) for k in CONFIG_KEYS
                 if k in cfg.get("config", {})}
    return {
        "Id": img.id,
        "RepoTags": st.live_tags(img),
        "RepoDigests": list(img.repo_digests),
        "Parent": img.parent,
        "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
        "Created": cfg.get("created", ""),
        "DockerVersion": "",
        "Author": cfg.get("author", ""),
        "Config": container,
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "GraphDriver": {"Name": "zfs", "Data": {
            "Dataset": st.layout.layer(img.layer), "Snapshot": img.snapshot,
            "Layers": [layer.dataset for layer in st.chain(img.layer)]}},
        "RootFS": {"Type": "layers", "Layers": list(cfg.get("rootfs", {}).get("diff_ids", []))},
        "Metadata": {"LastTagTime": ""},
        "Containers": len(img.containers),
    }


def history_rows(st: State, img: Image, now: float | None = None) -> list[dict[str, Any]]:
    """Newest first. Entries that made a layer get that layer's own size
    (ZFS usedbydataset: what the layer added, counted once)."""
    history = img.config.get("history") or []
    layers = st.chain(img.layer)
    sizes: list[int] = []
    li = 0
    for h in history:
        if h.get("empty_layer"):
            sizes.append(0)
        else:
            sizes.append(layers[li].own if li < len(layers) else 0)
            li += 1
    # Which history entries correspond to known images along the parent chain.
    ids: dict[int, str] = {len(history) - 1: img.short}
    parent = st.images.get(img.parent[7:]) if img.parent else None
    while parent is not None:
        n = len(parent.config.get("history") or [])
        if n:
            ids.setdefault(n - 1, parent.short)
        parent = st.images.get(parent.parent[7:]) if parent.parent else None
    rows = []
    for i in range(len(history) - 1, -1, -1):
        h = history[i]
        from .imageconfig import parse_time
        rows.append({"ID": ids.get(i, "<missing>"),
                     "CreatedSince": ago(parse_time(h.get("created", "")), now),
                     "CreatedAt": h.get("created", ""),
                     "CreatedBy": h.get("created_by", ""), "Size": human_size(sizes[i]),
                     "SizeBytes": str(sizes[i]),
                     "Comment": h.get("comment", "")})
    return rows


def unique_size(st: State, img: Image) -> int:
    """Bytes only this image holds: its chain's layers no other image or layer needs."""
    total = 0
    for layer in reversed(st.chain(img.layer)):
        others = [h for h in layer.images if h != img.hex]
        if others or len(layer.children) > (0 if layer.id == img.layer else 1):
            break
        total += layer.own
    return total


def images_df(st: State) -> dict[str, Any]:
    """TOTAL counts images as `images` lists them (intermediates left out);
    RECLAIMABLE is every layer no image in use by a container needs."""
    total = sum(layer.own for layer in st.layers.values())
    active = [i for i in st.images.values() if i.containers]
    needed = {layer.id for img in active for layer in st.chain(img.layer)}
    reclaim = sum(layer.own for layer in st.layers.values() if layer.id not in needed)
    listed = [i for i in st.images.values() if st.live_tags(i) or not st.children_of(i)]
    return {"Type": "Images", "TotalCount": len(listed), "Active": len(active),
            "Size": total, "Reclaimable": reclaim}
