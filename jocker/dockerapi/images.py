"""/images/* and the legacy builder's POST /build."""

from __future__ import annotations

import os
import shutil
import tempfile

from ..errors import JockerError, UsageError
from . import backend
from .routes import route
from .status import Unsupported

@route("GET", "/images/json")
def list_(req):
    req.send_json(backend.list_images(all_=req.flag("all"), filters=req.filters()))


@route("GET", "/images/{name:.+}/json")
def inspect(req, name):
    req.send_json(backend.inspect_image(name))


@route("GET", "/images/{name:.+}/history")
def history(req, name):
    req.send_json(backend.image_history(name))


@route("POST", "/images/{name:.+}/tag")
def tag(req, name):
    repo = req.arg("repo")
    if not repo:
        raise UsageError("tag needs a 'repo' parameter")
    backend.tag_image(name, repo, req.arg("tag") or "")
    req.send_empty(201)


@route("DELETE", "/images/{name:.+}")
def delete(req, name):
    req.send_json(backend.remove_image(name, force=req.flag("force"), noprune=req.flag("noprune")))


@route("POST", "/images/prune")
def prune(req):
    filters = req.filters()
    dangling = filters.pop("dangling", ["true"])
    all_unused = any(v in ("false", "0") for v in dangling)
    req.send_json(backend.prune_images(all_unused=all_unused, filters=filters))


class _Progress:
    """A progress callback that starts the JSON stream at its first event, so
    a failure before any progress is still answered with its HTTP status."""

    def __init__(self, req):
        self.req = req
        self.out = None

    def __call__(self, event: dict) -> None:
        if "current" in event or "total" in event:     # Docker's shape for a progress bar
            event = dict(event)
            event["progressDetail"] = {"current": event.pop("current", 0), "total": event.pop("total", 0)}
        self.begin().json(event)

    def begin(self):
        if self.out is None:
            self.out = self.req.stream("application/json")
        return self.out

    def run(self, call) -> None:
        try:
            call()
        except JockerError as e:
            if self.out is None:
                raise
            self.out.json({"errorDetail": {"message": str(e)}, "error": str(e)})
        self.begin().close()


@route("POST", "/images/create")
def create(req):
    progress = _Progress(req)
    if req.arg("fromSrc") is not None:
        src = req.arg("fromSrc")
        if src != "-":
            raise Unsupported("import from a URL (fromSrc=URL) is not supported; send the tarball "
                              "as the body with fromSrc=-")
        repo, tag = req.arg("repo") or "", req.arg("tag") or ""
        ref = (f"{repo}:{tag}" if tag else repo) or None
        images = backend.images_facade()
        progress.run(lambda: progress({"status": images.import_(
            "-", ref, message=req.arg("message") or "", changes=req.args("changes"), stdin=req.body)}))
        return
    name, tag = req.arg("fromImage") or "", req.arg("tag") or ""
    if not name:
        raise UsageError("pull needs fromImage")
    if tag and "@" not in name:
        name = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    images = backend.images_facade()
    auth = registry_auth(req)

    def pull():
        for p in images.pull(name, platform=req.arg("platform") or None, progress=progress, auth=auth):
            progress({"status": f"Digest: {p['Digest']}"})
            progress({"status": f"Status: {p['Status']}"})
    progress.run(pull)


@route("POST", "/images/{name:.+}/push")
def push(req, name):
    tag = req.arg("tag") or ""
    ref = f"{name}:{tag}" if tag else name
    progress = _Progress(req)
    images = backend.images_facade()
    auth = registry_auth(req)

    def push():
        for p in images.push(ref, all_tags=not tag and ":" not in name.rsplit("/", 1)[-1],
                             progress=progress, auth=auth):
            progress({"status": f"{p['Tag']}: digest: {p['Digest']} size: {p['Size']}"})
            progress({"progressDetail": {}, "aux": p})
    progress.run(push)


def registry_auth(req) -> dict | None:
    """The X-Registry-Auth header: base64url of Docker's AuthConfig JSON
    (padding optional, as the docker CLI sends it)."""
    import base64
    import binascii
    import json
    raw = req.header("X-Registry-Auth").strip()
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise UsageError("invalid X-Registry-Auth header: not base64url-encoded JSON") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError("invalid X-Registry-Auth header: not a JSON object")
    return data or None


@route("GET", "/images/get")
@route("GET", "/images/{name:.+}/get")
def save(req, name=None):
    names = [name] if name else req.args("names")
    if not names:
        raise UsageError("save needs at least one image (names=...)")
    images = backend.images_facade()
    for n in names:
        backend.inspect_image(n)                 # 404 before the stream starts
    out = req.stream("application/x-tar")
    images.save(names, out)
    out.close()


@route("POST", "/images/load")
def load(req):
    with tempfile.TemporaryFile(dir=os.environ.get("TMPDIR", "/var/tmp")) as spool:
        shutil.copyfileobj(req.body, spool, 1 << 20)
        spool.seek(0)
        lines = backend.images_facade().load(spool)
    out = req.stream("application/json")
    for line in lines:
        out.json({"stream": line + "\n"})
    out.close()


@route("GET", "/images/search")
def search(req):
    raise Unsupported("image search is not supported by jocker")


class _JSONLines:
    """The builder's output as the legacy builder's `{"stream": ...}` messages."""

    def __init__(self, out):
        self.out = out

    def write(self, data: bytes) -> int:
        if data.startswith(b"Sending build context to "):
            return len(data)        # the client printed its own line for the upload
        if data:
            self.out.json({"stream": data.decode("utf-8", "replace")})
        return len(data)

    def flush(self) -> None:
        pass


@route("POST", "/build")
def build(req):
    from ..builder.builder import BuildOptions
    if req.arg("remote"):
        raise Unsupported("building from a remote URL (remote=) is not supported; send a tar context")
    tags = [t for t in req.args("t") if t]
    buildargs = req.json_arg("buildargs") or {}
    labels = req.json_arg("labels") or {}
    if not isinstance(buildargs, dict) or not isinstance(labels, dict):
        raise UsageError("buildargs and labels must be JSON objects")
    network = req.arg("networkmode") or "host"
    if network == "default":
        network = "host"
    work = tempfile.mkdtemp(prefix="jocker-api-build-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    try:
        context = os.path.join(work, "context.tar")
        with open(context, "wb") as f:
            while True:
                data = req.body.read(1 << 20)
                if not data:
                    break
                f.write(data)
        opts = BuildOptions(context=context, dockerfile=req.arg("dockerfile") or "Dockerfile",
                            tags=tags, build_args={k: str(v) for k, v in buildargs.items() if v is not None},
                            no_cache=req.flag("nocache"), target=req.arg("target") or None,
                            labels={k: str(v) for k, v in labels.items()}, quiet=req.flag("q"),
                            network=network)
        out = req.stream("application/json")
        lines = _JSONLines(out)
        try:
            result = backend.build_image(opts, lines, lines)
        except JockerError as e:
            detail = {"message": str(e)}
            if getattr(e, "code", None):
                detail["code"] = e.code
            out.json({"errorDetail": detail, "error": str(e)})
        else:
            out.json({"aux": {"ID": result.image.id}})
        out.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
