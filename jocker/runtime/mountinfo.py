"""The kernel's mount table (/proc/self/mountinfo), read in one place.

Stdlib only and importable by path (nsinit.py and nsexec.py run as scripts
and load linux_security.py, which reads the table through this module).
FreeBSD has no such file: the table is then empty.
"""


def unescape(field):
    """The kernel writes a space, tab, newline or backslash in a mount point
    or source as \\ooo (octal) and every other byte as it is."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_table(path="/proc/self/mountinfo", missing_ok=True):
    """(mount point, filesystem type, source) of every mount, in mount order.
    Names that are not UTF-8 come back as os.fsdecode() spells them, so one
    odd mount elsewhere on the host never makes the table unreadable. An
    unreadable table is empty (FreeBSD has none), or with missing_ok=False
    raises: a security decision (what is mounted below a read-only bind)
    must not take "cannot read" for "nothing there"."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, source = (right.split() + ["", ""])[:2]
                out.append((unescape(left.split()[4]), fstype, unescape(source)))
    except OSError:
        if not missing_ok:
            raise
    return out

