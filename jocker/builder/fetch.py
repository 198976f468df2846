"""ADD's remote sources: URLs downloaded into the build (no extraction of
remote archives, as Docker)."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from email.utils import parsedate_to_datetime

from ..errors import BuildError, UsageError

CHUNK = 1 << 20


def is_url(src: str) -> bool:
    """Docker treats only http:// and https:// sources as URLs."""
    return src.startswith(("http://", "https://"))


def _download_name(url: str, headers) -> str:
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if not name:
        name = os.path.basename(headers.get_filename() or "")
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise BuildError(f"cannot determine a file name for {url}; name the destination file")
    return name


def download(url: str, dest_dir: str, *, timeout: float = 60.0) -> str:
    """Fetch `url` into `dest_dir` and return the file's path (mode 0600, as Docker)."""
    if not is_url(url):
        raise UsageError(f"not an http or https URL: {url}")
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "jocker"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                name = _download_name(url, resp.headers)
                shutil.copyfileobj(resp, out, CHUNK)
                modified = resp.headers.get("Last-Modified")
        os.chmod(tmp, 0o600)
        if modified:
            try:
                when = parsedate_to_datetime(modified).timestamp()
                os.utime(tmp, (when, when))
            except (TypeError, ValueError, OverflowError):
                pass  # a bad Last-Modified only costs us the mtime
        path = os.path.join(dest_dir, name)
        os.replace(tmp, path)
        return path
    except urllib.error.HTTPError as e:
        raise BuildError(f"failed to download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise BuildError(f"failed to download {url}: {getattr(e, 'reason', e)}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- the hash cache --------------------------------------------------------------
