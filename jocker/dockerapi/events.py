"""GET /events: the event journal as a stream of JSON objects (one chunk per
event, flushed at once), past events in the since/until window first, then
live ones until `until` passes or the client hangs up. Each stream holds one
server thread and one open journal file, both released when it ends."""

from __future__ import annotations

from . import backend
from .routes import route


@route("GET", "/events")
def events(req):
    since, until = req.arg("since") or None, req.arg("until") or None
    # The docker CLI sends until=0 / since=0 for "not given" in some versions.
    since = None if since == "0" else since
    until = None if until == "0" else until
    stream = backend.events(since=since, until=until, filters=req.filters(),
                            should_stop=req.client_gone)
    out = req.stream("application/json")
    try:
        for msg in stream:
            out.json(msg)
        out.close()
    except OSError:
        pass                          # the client went away mid-write
    finally:
        stream.close()
