"""The engine's side of a supervisor's control messages (stop, kill,
resize, health), sent over the socket the supervisor already listens on for attach
clients. See Supervisor.control for the messages."""

from __future__ import annotations

import json
import socket
import time

from .. import rundir as RD
from ..errors import JockerError
from . import frames


class NotListening(Exception):
    """The supervisor has no socket yet (it is starting) or no longer (it is gone)."""


def send(rundir: str, msg: dict, *, wait: float = 2.0) -> dict | None:
    """Send msg and wait for the supervisor's reply: the data it answered
    with (`health`), else None. A supervisor that is still starting gets
    `wait` seconds to open its socket; NotListening after."""
    from .attach import connect
    path = RD.path(rundir, RD.ATTACH_SOCK)
    end = time.monotonic() + wait
    while True:
        try:
            conn = connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError) as e:
            if time.monotonic() >= end:
                raise NotListening(str(e)) from None
            time.sleep(0.02)
        except OSError as e:          # the deep-path helper reports errno in the message
            if time.monotonic() >= end:
                raise NotListening(str(e)) from None
            time.sleep(0.02)
    try:
        conn.settimeout(30)
        conn.sendall(frames.encode(frames.CONTROL, json.dumps(msg).encode()))
        decoder = frames.Decoder()
        while True:
            data = conn.recv(65536)
            if not data:
                return None          # it ended while answering: the message is moot
            for kind, payload in decoder.feed(data):
                if kind == frames.REPLY:
                    text = payload.decode("utf-8", "replace")
                    if text == "ok":
                        return None
                    if text.startswith("ok "):
                        return json.loads(text[3:])
                    raise JockerError(f"the supervisor refused {msg.get('op')}: {text}")
    except socket.timeout:
        raise JockerError("the supervisor did not answer within 30s",
                          hint="see supervisor.err in the container's run directory") from None
    finally:
        conn.close()
