"""How CLI commands reach the data: the running gateway's admin API, or the data directory when none runs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.service import running_gateway_url
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations

T = TypeVar("T")


class AdminError(Exception):
    """The gateway answered with an error (its stable code and text) or could not be reached."""


class AdminClient:
    """A tiny JSON client for /v1/admin/…, authenticated with the admin token."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; returns the JSON answer or raises AdminError with the gateway's words."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
                message = f"{err.get('error')}: {err.get('detail')}"
            except ValueError:
                message = f"HTTP {exc.code}"
            raise AdminError(message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise AdminError(f"cannot reach the gateway at {self.url}: {exc}") from None


def admin_token(settings: Settings, given: str | None) -> str:
    """The token given on the command line, or the one in the data directory."""
    if given:
        return given
    try:
        return settings.admin_token_file.read_text().strip()
    except OSError:
        raise AdminError(
            f"no admin token: pass --token, or run where {settings.admin_token_file} is readable"
        ) from None


def gateway_client(settings: Settings, url: str | None, token: str | None) -> AdminClient | None:
    """A client of the gateway at url, or of the one serving this data directory; None if none runs."""
    url = url or running_gateway_url(settings)
    return None if url is None else AdminClient(url, admin_token(settings, token))


def on_data_dir(settings: Settings, action: Callable[[Any, str], T]) -> T:
    """Run action(client, database) on the data directory opened here (no gateway runs on it), migrated."""
    return on_data_dir_storage(settings, lambda s: s.run_sync(lambda c: action(c, s.database)))


def on_data_dir_storage(settings: Settings, action: Callable[[Storage], T]) -> T:
    """Run action(storage) on the data directory opened here (no gateway runs on it), migrated."""
    storage = Storage.open(settings)
    try:
        storage.run_sync(lambda c: apply_migrations(c, storage.database))
        return action(storage)
    finally:
        storage.close()
