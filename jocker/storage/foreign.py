"""What jocker did not make below a dataset it did: an admin's snapshot
(`zfs snapshot pool/jocker/containers/<id>@mine`, or `zfs snapshot -r
pool/jocker@backup`) or child dataset. jocker makes no snapshot or child of
a container's clone or of a volume, so whatever is there is someone else's,
and a recursive destroy would take it: removal refuses instead, naming it
and how to proceed, as `zfs destroy` without -r does."""

from __future__ import annotations

from ..errors import Conflict


def refuse_foreign(zfs, dataset: str, what: str) -> None:
    """Conflict naming what is below dataset (what: "container web",
    "volume data"); NotFound (from the driver) when dataset is gone."""
    foreign = sorted(n for n in zfs.tree(dataset) if n != dataset)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise Conflict(f"{what} holds {len(foreign)} ZFS object(s) jocker did not make: "
                       f"{shown}; jocker never destroys them",
                       hint=f"keep them elsewhere (zfs send) if needed, `zfs destroy {foreign[0]}`, then remove again")
