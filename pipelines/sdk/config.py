"""Where the SDK finds its server and API token.

In order: the PIPELINES_SERVER_URL and PIPELINES_API_TOKEN variables (the token may
also come from PIPELINES_API_TOKEN_FILE); then `client.json`, which `make demo`
writes into the data folder (PIPELINES_DATA_DIR, else ./var, else the var/ folder of
the checkout this package lives in).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.sdk.exceptions import AuthenticationError

CLIENT_CONFIG_FILE = "client.json"
DEFAULT_SERVER_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class ClientConfig:
    server_url: str
    api_token: str


def _candidate_files() -> list[Path]:
    folders = []
    if os.environ.get("PIPELINES_DATA_DIR"):
        folders.append(Path(os.environ["PIPELINES_DATA_DIR"]).expanduser())
    folders.append(Path.cwd() / "var")
    folders.append(Path(__file__).resolve().parents[2] / "var")
    return [folder / CLIENT_CONFIG_FILE for folder in folders]


def _from_file() -> dict[str, str]:
    for path in _candidate_files():
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                continue
    return {}


def load_client_config(server_url: str | None = None, api_token: str | None = None) -> ClientConfig:
    if server_url is None and api_token is None:
        from pipelines.sdk.current_step import current_step_context

        context = current_step_context()
        if context is not None and context.client_credentials is not None:
            url, token = context.client_credentials()
            return ClientConfig(server_url=url.rstrip("/"), api_token=token)
    stored = (
        _from_file()
        if not (server_url or os.environ.get("PIPELINES_SERVER_URL"))
        or not (api_token or os.environ.get("PIPELINES_API_TOKEN") or os.environ.get("PIPELINES_API_TOKEN_FILE"))
        else {}
    )
    url = server_url or os.environ.get("PIPELINES_SERVER_URL") or stored.get("server_url") or DEFAULT_SERVER_URL
    token = api_token or os.environ.get("PIPELINES_API_TOKEN")
    if not token and os.environ.get("PIPELINES_API_TOKEN_FILE"):
        token = Path(os.environ["PIPELINES_API_TOKEN_FILE"]).read_text().strip()
    token = token or stored.get("api_token")
    if not token:
        raise AuthenticationError(
            "No API token. Set PIPELINES_API_TOKEN (`python manage.py create_api_token "
            "USERNAME` prints one), or run `make demo`, which writes var/client.json."
        )
    return ClientConfig(server_url=url.rstrip("/"), api_token=token)
