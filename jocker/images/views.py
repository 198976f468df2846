"""What users see of images: list rows, filters, inspect JSON, history, df.
Pure functions over a State, so the CLI and the API server share them."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..errors import UsageError
from ..filters import label_filter, labels_match
from .imageconfig import CONFIG_KEYS
from .state import Image, Index, State


def image_matches(st: State, img: Image, filters: list[tuple[str, str]], tag: str | None,
                  index: Index | None = None) -> bool:
    for key, value in filters:
        if key == "dangling":
            if value not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid filter dangling={value!r}: expected true or false")
            if st.is_dangling(img, index) != (value in ("true", "1")):
                return False
        elif key == "label":
            if not labels_match(img.labels, [label_filter(value)]):
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


def image_list(st: State, *, all_images: bool = False,
               filters: list[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """`GET /images/json`, newest first. RepoTags holds the tags that pass the
    filters; an untagged image has none. Intermediate images (untagged
    parents of other images) only with all_images."""
    out = []
    index = st.index()
    for img in sorted(st.images.values(), key=lambda i: (-i.created, i.hex)):
        tags = st.live_tags(img, index)
        if not tags and not all_images and st.children_of(img, index):
            continue
        kept = [t for t in tags or [None] if image_matches(st, img, list(filters), t, index)]
        if not kept:
            continue
        out.append({"Id": img.id, "ParentId": img.parent or "", "RepoTags": [t for t in kept if t],
                    "RepoDigests": list(img.repo_digests), "Created": int(img.created),
                    "CreatedAt": img.config.get("created", ""), "Size": img.size,
                    "SharedSize": -1, "VirtualSize": img.size, "Labels": dict(img.labels),
                    "Containers": len(img.containers)})
    return out


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


def history(st: State, img: Image) -> list[dict[str, Any]]:
    """`GET /images/{name}/history`, newest first. Entries that made a layer
    get that layer's own size (ZFS usedbydataset: what the layer added,
    counted once); Id is "<missing>" where no image of the chain ends."""
    from ..times import parse_time
    entries = img.config.get("history") or []
    layers = st.chain(img.layer)
    sizes: list[int] = []
    li = 0
    for h in entries:
        if h.get("empty_layer"):
            sizes.append(0)
        else:
            sizes.append(layers[li].own if li < len(layers) else 0)
            li += 1
    # Which history entries correspond to known images along the parent chain.
    ids: dict[int, Image] = {len(entries) - 1: img}
    parent = st.images.get(img.parent[7:]) if img.parent else None
    while parent is not None:
        n = len(parent.config.get("history") or [])
        if n:
            ids.setdefault(n - 1, parent)
        parent = st.images.get(parent.parent[7:]) if parent.parent else None
    out = []
    for i in range(len(entries) - 1, -1, -1):
        h = entries[i]
        owner = ids.get(i)
        out.append({"Id": owner.id if owner else "<missing>",
                    "Created": int(parse_time(h.get("created", ""))),
                    "CreatedAt": h.get("created", ""), "CreatedBy": h.get("created_by", ""),
                    "Tags": st.live_tags(owner) if owner else [], "Size": sizes[i],
                    "Comment": h.get("comment", "")})
    return out


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
    index = st.index()
    listed = [i for i in st.images.values() if st.live_tags(i, index) or not st.children_of(i, index)]
    return {"Type": "Images", "TotalCount": len(listed), "Active": len(active),
            "Size": total, "Reclaimable": reclaim}
