"""The SDK imports no Django, so user scripts and notebooks need no settings.

Each check runs in a fresh interpreter: this test process has Django loaded already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
SDK = REPO_ROOT / "pipelines" / "sdk"

NO_DJANGO = "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), sorted(sys.modules)"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _sdk_modules() -> list[str]:
    modules = []
    for path in sorted(SDK.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


def test_importing_the_user_facing_packages_loads_no_django():
    result = _python(f"import pipelines, pipelines.client, pipelines.sdk.materializers, sys; {NO_DJANGO}")

    assert result.returncode == 0, result.stderr


def test_the_module_walk_finds_the_whole_sdk():
    modules = _sdk_modules()

    assert "pipelines.sdk" in modules
    assert "pipelines.sdk.spec" in modules
    assert "pipelines.sdk.materializers.pandas_materializer" in modules


def test_importing_every_sdk_module_loads_no_django():
    modules = _sdk_modules()

    result = _python(f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n{NO_DJANGO}")

    assert result.returncode == 0, result.stderr
