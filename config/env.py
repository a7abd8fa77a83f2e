"""The one door to the environment.

Every setting read from the environment goes through `env`, a django-environ reader
that also accepts `NAME_FILE` (a path whose content is the value) for secrets, and
raises ImproperlyConfigured with the variable's name when a value is malformed.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()


def data_dir() -> Path:
    """The folder that holds all local state (database, broker, artifacts, keys)."""
    path = Path(env.str("PIPELINES_DATA_DIR", default=str(BASE_DIR / "var"))).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
