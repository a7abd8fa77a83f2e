"""Settings for the test suite."""

from __future__ import annotations

import os
import tempfile
import uuid

# Tests get a data folder of their own (database, broker folders, artifacts), so a
# running `make demo` and the test suite never share a broker or a database. Only
# named here (importing settings writes nothing); `pipelines.apps` makes it.
if not os.environ.get("PIPELINES_DATA_DIR"):
    os.environ["PIPELINES_DATA_DIR"] = os.path.join(tempfile.gettempdir(), f"pipelines-test-{uuid.uuid4().hex}")

from django.utils.functional import SimpleLazyObject

from config.env import embedded_fernet_keys
from config.settings.base import *  # noqa: F403
from config.settings.base import DATA_DIR, DATABASES

SECRET_KEY = "test-only-not-secret"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A key of the test data folder's own, shared with the worker processes tests start.
FERNET_KEYS = FERNET_KEYS or SimpleLazyObject(lambda: embedded_fernet_keys(DATA_DIR))  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Integration tests run a real worker process against the test database, so the
# SQLite test database must be a file the worker can open, not ":memory:".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# A worker process started by the integration tests must open the test database,
# which pytest-django created under its test name.
if os.environ.get("PIPELINES_USE_TEST_DATABASE"):
    _test_name = DATABASES["default"].get("TEST", {}).get("NAME") or f"test_{DATABASES['default']['NAME']}"
    DATABASES["default"]["NAME"] = _test_name

# Short enough that crash recovery is tested in seconds.
PIPELINES = {
    **PIPELINES,  # noqa: F405
    "STEP_HEARTBEAT_INTERVAL": 0.5,
    "STEP_HEARTBEAT_TIMEOUT": 3.0,
    "REAPER_INTERVAL": 0.5,
    "REDISPATCH_AFTER": 2.0,
    "WORKER_HEARTBEAT_INTERVAL": 0.5,
}

# The live server answers each request on a thread of its own; a connection kept
# open past the request would outlive the thread and block dropping the test
# database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0
