"""Registry credentials and the WWW-Authenticate challenge.

Credentials live where Docker and podman keep them: `~/.docker/config.json`
(`$DOCKER_CONFIG/config.json` when set): `auths{host: {auth: base64(user:pass)}}`,
and `credHelpers{host: name}` / `credsStore` naming a `docker-credential-<name>`
program that answers `get` with JSON on stdin/stdout (run through the runner).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass

from ..atomic import write_atomic
from ..errors import JockerError

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str             # bearer | basic
    params: dict


def parse_challenge(header: str) -> Challenge | None:
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def config_path(environ=None) -> str:
    env = os.environ if environ is None else environ
    base = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _key(registry: str) -> str:
    return "https://index.docker.io/v1/" if registry == "docker.io" else registry


class CredentialStore:
    def __init__(self, runner, path: str | None = None):
        self.runner = runner
        self.path = path or config_path()

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise JockerError(f"cannot read {self.path}: {e}",
                              hint="fix or remove the file, then log in again") from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent="\t") + "\n", 0o600)

    def helper(self, registry: str) -> str | None:
        data = self._read()
        return (data.get("credHelpers") or {}).get(_key(registry)) or \
            (data.get("credHelpers") or {}).get(registry) or data.get("credsStore")

    def get(self, registry: str) -> Credentials | None:
        data = self._read()
        helper = self.helper(registry)
        if helper:
            res = self.runner.run([f"docker-credential-{helper}", "get"], input=_key(registry),
                                  check=False, timeout=30)
            if res.returncode == 0:
                try:
                    got = json.loads(res.stdout)
                    return Credentials(got["Username"], got["Secret"])
                except (ValueError, KeyError, TypeError):
                    pass
        for key in (_key(registry), registry, "https://" + registry, "http://" + registry):
            entry = (data.get("auths") or {}).get(key)
            if entry and entry.get("auth"):
                try:
                    user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                except ValueError:
                    raise JockerError(f"{self.path}: the auth entry for {registry} is not base64",
                                      hint=f"run: jocker login {registry}") from None
                return Credentials(user, pw)
        return None

    def store(self, registry: str, creds: Credentials) -> str:
        """Save creds (in the helper when one is configured). Returns where."""
        helper = self.helper(registry)
        if helper:
            self.runner.run([f"docker-credential-{helper}", "store"], timeout=30, input=json.dumps(
                {"ServerURL": _key(registry), "Username": creds.username, "Secret": creds.password}))
            return f"docker-credential-{helper}"
        data = self._read()
        data.setdefault("auths", {})[_key(registry)] = {
            "auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
        self._write(data)
        return self.path

    def erase(self, registry: str) -> bool:
        helper = self.helper(registry)
        if helper:
            res = self.runner.run([f"docker-credential-{helper}", "erase"], input=_key(registry),
                                  check=False, timeout=30)
            return res.returncode == 0
        data = self._read()
        auths = data.get("auths") or {}
        found = False
        for key in (_key(registry), registry):
            if key in auths:
                del auths[key]
                found = True
        if found:
            self._write(data)
        return found
