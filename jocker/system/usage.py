"""Disk usage and pruning across images, containers and volumes."""

from __future__ import annotations

from typing import Any

from ..images.views import images_df, unique_size


def usage(engine, st) -> dict[str, Any]:
    from ..containers.usage import containers_df, volumes_df
    summary = [images_df(st), containers_df(engine, st), volumes_df(engine, st)]
    images = []
    for img in sorted(st.images.values(), key=lambda i: -i.created):
        uniq = unique_size(st, img)
        tags = st.live_tags(img) or ["<none>:<none>"]
        repo, _, tag = tags[0].rpartition(":")
        images.append({"Repository": repo, "Tag": tag, "ID": img.short,
                       "Created": int(img.created), "Size": img.size,
                       "SharedSize": max(0, img.size - uniq), "UniqueSize": uniq,
                       "Containers": len(img.containers)})
    return {"summary": summary, "images": images}


def prune(engine, *, all_unused: bool, volumes: bool, label_filters) -> dict[str, Any]:
    """Stopped containers, (anonymous volumes,) unused images, then leftovers
    of interrupted work. Lists what went, and the bytes reclaimed."""
    from ..containers.prune import collect_leftovers, prune_containers, prune_volumes
    from ..images.remove import collect_garbage, prune_images
    out: dict[str, Any] = {}
    reclaimed = 0
    out["ContainersDeleted"], freed = prune_containers(engine, label_filters)
    reclaimed += freed
    from ..events import produce as events
    if volumes:
        out["VolumesDeleted"], freed = prune_volumes(engine, label_filters, anonymous_only=True)
        reclaimed += freed
        for name in out["VolumesDeleted"]:
            events.volume(engine, name, "destroy")
        events.pruned(engine, "volume", freed)
    before = engine.load_state()        # what the image events name
    out["ImagesDeleted"], freed = prune_images(engine.store, all_unused=all_unused,
                                               label_filters=label_filters)
    events.image_lines(engine, out["ImagesDeleted"], before)
    events.pruned(engine, "image", freed)
    reclaimed += freed
    out["LeftoversRemoved"] = collect_garbage(engine.store) + collect_leftovers(engine)
    out["SpaceReclaimed"] = reclaimed
    return out
