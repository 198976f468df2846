"""Image commands: import, images, tag, rmi, history, image inspect/prune."""

from __future__ import annotations

import click

from ..format import format_rows, table


@click.command("import")
@click.argument("source")
@click.argument("reference", required=False)
@click.option("-m", "--message", default="", help="Commit message for the imported image.")
@click.option("-c", "--change", "changes", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, ...).")
@click.pass_obj
def import_cmd(obj, source, reference, message, changes):
    """Import a rootfs tarball, a directory or - (stdin) as an image.

    \b
    Examples:
      jocker import base.txz freebsd:14.3
      jocker import ./rootfs myroot:1
      fetch -o - https://.../base.txz | jocker import - freebsd:14.3
    """
    import sys
    click.echo(obj.api.images.import_(source, reference, message=message, changes=list(changes),
                                      stdin=sys.stdin.buffer))


@click.command("images")
@click.argument("reference", required=False)
@click.option("-a", "--all", "all_images", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--digests", is_flag=True, help="Show registry digests.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter: dangling=true, reference=..., label=k[=v], before=, since=.")
@click.option("--format", "fmt", help="Go-template format, e.g. '{{.Repository}}:{{.Tag}}' or 'table {{.ID}}\\t{{.Size}}'.")
@click.pass_obj
def images_cmd(obj, reference, all_images, quiet, no_trunc, digests, filters, fmt):
    """List images.

    \b
    Examples:
      jocker images
      jocker images -q --filter dangling=true
      jocker images --format '{{.Repository}}:{{.Tag}} {{.Size}}'
    """
    from ..filters import IMAGE_FILTERS, from_flags
    from .rows import image_rows
    flt = from_flags(list(filters), IMAGE_FILTERS)
    if reference:
        flt.setdefault("reference", []).append(reference)
    rows = [row for img in obj.api.images.list(all=all_images, filters=flt) for row in image_rows(img)]
    if no_trunc:
        for r in rows:
            r["ID"] = r["FullID"]
    if quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        click.echo("\n".join(seen)) if seen else None
    elif fmt:
        out = format_rows(fmt, rows)
        if out:
            click.echo(out)
    elif digests:
        click.echo(table(["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"],
                         [[r["Repository"], r["Tag"], r["Digest"], r["ID"], r["CreatedSince"], r["Size"]]
                          for r in rows]))
    else:
        click.echo(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                         [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["Size"]] for r in rows]))


@click.command("tag")
@click.argument("source")
@click.argument("target")
@click.pass_obj
def tag_cmd(obj, source, target):
    """Create a tag TARGET that refers to SOURCE.

    \b
    Example:
      jocker tag web:latest registry.example.org:5000/web:1.0
    """
    obj.api.images.tag(source, target)


@click.command("rmi")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.pass_obj
def rmi_cmd(obj, images, force, no_prune):
    """Remove one or more images.

    \b
    Examples:
      jocker rmi web:1.0
      jocker rmi -f 3e1f5a7c9b2d
    """
    from .common import for_each
    from .rows import report_lines
    for_each(images, lambda ref: report_lines(obj.api.images.remove(ref, force=force,
                                                                    prune_parents=not no_prune)))


@click.command("history")
@click.argument("image")
@click.option("-H", "--human", type=click.BOOL, default=True, show_default=True,
              help="Print sizes and dates in human readable format (-H false: bytes and RFC 3339).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Go-template format.")
@click.pass_obj
def history_cmd(obj, image, human, quiet, no_trunc, fmt):
    """Show the history of an image.

    \b
    Example:
      jocker history web:latest
    """
    from .rows import history_row
    rows = [history_row(h) for h in obj.api.images.history(image)]
    if quiet:
        click.echo("\n".join(r["ID"] for r in rows))
        return
    if fmt:
        click.echo(format_rows(fmt, rows))
        return
    def trunc(s):
        return s if no_trunc or len(s) <= 45 else s[:44] + "…"
    created, size = ("CreatedSince", "Size") if human else ("CreatedAt", "SizeBytes")
    click.echo(table(["IMAGE", "CREATED" if human else "CREATED AT", "CREATED BY", "SIZE", "COMMENT"],
                     [[r["ID"], r[created], trunc(r["CreatedBy"]), r[size], r["Comment"]] for r in rows]))


@click.group("image")
def image_group():
    """Manage images (docker image ... aliases)."""


@image_group.command("inspect")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Go-template format.")
@click.pass_obj
def image_inspect_cmd(obj, images, fmt):
    """Display detailed information on one or more images.

    \b
    Example:
      jocker image inspect --format '{{.Os}}/{{.Architecture}}' busybox
    """
    from .inspect import emit
    emit([obj.api.images.inspect(i) for i in images], fmt)


@image_group.command("prune")
@click.option("-a", "--all", "all_unused", is_flag=True, help="Remove all images not used by a container.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="label=k[=v] or label!=k[=v].")
@click.pass_obj
def image_prune_cmd(obj, all_unused, force, filters):
    """Remove unused images.

    \b
    Example:
      jocker image prune -a -f
    """
    from ..format import human_size
    from .rows import report_lines
    from .system import prune_filters
    if not force and not click.confirm("WARNING! This will remove all dangling images.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    report = obj.api.images.prune(all=all_unused, filters=prune_filters(filters))
    lines, freed = report_lines(report["ImagesDeleted"], lower=True), report["SpaceReclaimed"]
    if lines:
        click.echo("Deleted Images:\n" + "\n".join(lines) + "\n")
    if report.get("LeftoversRemoved"):
        click.echo("Removed leftovers of interrupted work:\n" + "\n".join(report["LeftoversRemoved"]) + "\n")
    click.echo(f"Total reclaimed space: {human_size(freed)}")


image_group.add_command(images_cmd, "ls")
image_group.add_command(rmi_cmd, "rm")
image_group.add_command(tag_cmd, "tag")
image_group.add_command(history_cmd, "history")
image_group.add_command(import_cmd, "import")
from .ship import image_have_cmd, image_receive_cmd, image_send_cmd, load_cmd, pull_cmd, push_cmd, save_cmd  # noqa: E402
for _cmd in (image_send_cmd, image_receive_cmd, image_have_cmd):
    image_group.add_command(_cmd)
for _name, _cmd in (("pull", pull_cmd), ("push", push_cmd), ("save", save_cmd), ("load", load_cmd)):
    image_group.add_command(_cmd, _name)
