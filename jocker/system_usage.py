"""Disk usage and pruning across images, containers and volumes."""

from __future__ import annotations

from typing import Any

from .format import ago
from .images.views import images_df, unique_size


def usage(engine, st) -> dict[str, Any]:
    summary = [images_df(st)]
    try:
        from .containers.usage import containers_df, volumes_df
        summary += [containers_df(engine, st), volumes_df(engine, st)]
    except ImportError:
        pass
    images = []
    for img in sorted(st.images.values(), key=lambda i: -i.created):
        uniq = unique_size(st, img)
        tags = st.live_tags(img) or ["<none>:<none>"]
        repo, _, tag = tags[0].rpartition(":")
        images.append({"Repository": repo, "Tag": tag, "ID": img.short,
                       "CreatedSince": ago(img.created), "Size": img.size,
                       "SharedSize": max(0, img.size - uniq), "UniqueSize": uniq,
                       "Containers": len(img.containers)})
    return {"summary": summary, "images": images}


def prune(engine, *, all_unused: bool, volumes: bool, label_filters) -> dict[str, Any]:
    from .images.remove import collect_garbage, prune_images
    sections: list[tuple[str, list[str]]] = []
    reclaimed = 0
    try:
        from .containers.prune import prune_containers, prune_volumes
    except ImportError:
        prune_containers = prune_volumes = None
    if prune_containers:
        lines, freed = prune_containers(engine, label_filters)
        sections.append(("Deleted Containers", lines))
        reclaimed += freed
    if volumes and prune_volumes:
        lines, freed = prune_volumes(engine, label_filters, anonymous_only=True)
        sections.append(("Deleted Volumes", lines))
        reclaimed += freed
    lines, freed = prune_images(engine.store, all_unused=all_unused, label_filters=label_filters)
    sections.append(("Deleted Images", lines))
    reclaimed += freed
    leftovers = collect_garbage(engine.store)
    sections.append(("Removed leftovers of interrupted work", leftovers))
    return {"sections": sections, "reclaimed": reclaimed}
