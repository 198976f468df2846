"""The engine API's data as the Docker CLI's table rows: the fields its
`--format` templates name, sizes and times in human words."""

from __future__ import annotations

from typing import Any

from ..format import ago, ellipsis, go_quote, human_size


def short_id(full: str) -> str:
    return full.split(":", 1)[-1][:12]


def format_api_ports(items: list[dict]) -> str:
    """ps's PORTS column: 0.0.0.0:8080->80/tcp, 9000/tcp."""
    return ", ".join(f"{p['IP']}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}" if "PublicPort" in p
                     else f"{p['PrivatePort']}/{p['Type']}" for p in items)


def network_row(rec: dict, no_trunc: bool = False) -> dict[str, Any]:
    """`network ls` fields."""
    return {"ID": rec["Id"] if no_trunc else rec["Id"][:12], "Name": rec["Name"], "Driver": rec["Driver"],
            "Scope": rec["Scope"], "IPv6": "false", "Internal": str(bool(rec.get("Internal"))).lower(),
            "Labels": ",".join(f"{k}={v}" for k, v in (rec.get("Labels") or {}).items()),
            "CreatedAt": rec.get("Created", "")}


def ps_row(c: dict, now: float | None = None, trunc: bool = True) -> dict[str, Any]:
    mounts = c.get("Mounts") or []
    command = ellipsis(c["Command"], 20) if trunc else c["Command"]
    return {
        "ID": short_id(c["Id"]), "FullID": c["Id"], "Image": c["Image"], "Command": go_quote(command),
        "CreatedAt": c["CreatedAt"], "RunningFor": ago(c["Created"], now), "Status": c["Status"],
        "State": c["State"], "Ports": format_api_ports(c.get("Ports") or []), "Names": c["Names"][0].lstrip("/"),
        "Size": f"{human_size(c['SizeRw'])} (virtual {human_size(c['SizeRootFs'])})",
        "Labels": ",".join(f"{k}={v}" for k, v in c["Labels"].items()),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in mounts),
        "Networks": ",".join((c.get("NetworkSettings") or {}).get("Networks") or {}),
    }


def _digest(img: dict, repo: str | None) -> str:
    for ref in img.get("RepoDigests") or []:
        name, _, digest = ref.partition("@")
        if repo is None or name == repo:
            return digest
    return "<none>"


def image_rows(img: dict, now: float | None = None) -> list[dict[str, Any]]:
    """One row per tag, like `docker images`; an untagged image as <none>
    (`name <none>` when it was pulled by digest)."""
    rows = []
    tags = img["RepoTags"] or [r.split("@")[0] + ":<none>" for r in img.get("RepoDigests") or []]
    for tag in tags or [None]:
        repo, _, t = tag.rpartition(":") if tag else ("<none>", "", "<none>")
        rows.append({"Repository": repo, "Tag": t, "ID": short_id(img["Id"]), "FullID": img["Id"],
                     "CreatedSince": ago(img["Created"], now), "CreatedAt": img["CreatedAt"],
                     "Size": human_size(img["Size"]), "VirtualSize": human_size(img["VirtualSize"]),
                     "Containers": str(img["Containers"]), "Digest": _digest(img, repo if tag else None)})
    return rows


def history_row(h: dict, now: float | None = None) -> dict[str, Any]:
    return {"ID": h["Id"] if h["Id"] == "<missing>" else short_id(h["Id"]),
            "CreatedSince": ago(h["Created"], now), "CreatedAt": h["CreatedAt"],
            "CreatedBy": h["CreatedBy"], "Size": human_size(h["Size"]), "SizeBytes": str(h["Size"]),
            "Comment": h["Comment"]}


def report_lines(items: list[dict], lower: bool = False) -> list[str]:
    """[{"Untagged": ref}, {"Deleted": id}] as Docker prints them."""
    out = []
    for item in items:
        for k, v in item.items():
            out.append(f"{k.lower() if lower else k}: {v}")
    return out
