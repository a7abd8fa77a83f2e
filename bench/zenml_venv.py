"""ZenML 0.98 in a virtualenv of its own, for the side-by-side benchmark (bench/vs_zenml.py).

Installed once under the data folder (`<data>/bench/zenml-venv`) with pip; later runs
only check its version. Everything ZenML keeps (its config, the local SQLite store and
the local artifact store) lives under `<data>/bench/zenml-config`, and `zenml init`
marks a scratch folder, `<data>/bench/zenml-repo`, as the repository the driver runs in;
both are made anew for every benchmark run.
Nothing here imports ZenML: it is driven only as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ZENML_VERSION = "0.98.0"
ZENML_REQUIREMENT = f"zenml[local]=={ZENML_VERSION}"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def zenml_env(bench_root: Path) -> dict[str, str]:
    """The environment every ZenML process of the benchmark gets.

    Analytics off (ZenML otherwise posts usage events to its own server), no debug
    mode, its own config folder so the user's ZenML setup is neither read nor
    changed, no rich tracebacks or colours in the log file, and no interactive prompt.
    ZenML's local mode makes no other call out (the driver counts connection attempts
    to non-loopback addresses and the report prints them).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "PIPELINES_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        {
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_DEBUG": "false",
            "ZENML_CONFIG_PATH": str(bench_root / "zenml-config"),
            "ZENML_REPOSITORY_PATH": str(bench_root / "zenml-repo"),
            "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
            "ZENML_ENABLE_RICH_TRACEBACK": "false",
            "ZENML_LOGGING_COLORS_DISABLED": "true",
            "ZENML_DISABLE_INTERACTIVE_INPUT": "true",
            "ZENML_AUTO_OPEN_DASHBOARD": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('zenml'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_zenml(bench_root: Path, base_python: str = "python3") -> Path:
    """Install ZenML into its own virtualenv (once); return the virtualenv's python."""
    venv = bench_root / "zenml-venv"
    python = venv / "bin" / "python"
    version = installed_version(python)
    if version == ZENML_VERSION:
        return python
    if version is not None:
        log(f"ZenML {version} found in {venv}; replacing it with {ZENML_VERSION}")
        shutil.rmtree(venv)
    log(f'installing "{ZENML_REQUIREMENT}" and numpy into {venv} (once; a few minutes)')
    bench_root.mkdir(parents=True, exist_ok=True)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    # numpy activates ZenML's numpy integration (its NumpyMaterializer); without it an
    # array would be pickled.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ZENML_REQUIREMENT, "numpy"],
        check=True,
    )
    if installed_version(python) != ZENML_VERSION:
        raise SystemExit(f"Installing {ZENML_REQUIREMENT} into {venv} did not give ZenML {ZENML_VERSION}.")
    return python


def fresh_zenml_repo(bench_root: Path) -> Path:
    """An empty ZenML store and a freshly `zenml init`-ed scratch repository; return its folder.

    Every benchmark run starts ZenML from nothing, as it starts this project from a new
    data folder: both databases start empty, and the 100 MiB artifacts of earlier runs
    do not pile up on the disk.
    """
    config, repo = bench_root / "zenml-config", bench_root / "zenml-repo"
    shutil.rmtree(config, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    log(f"zenml init in {repo} (default stack: local orchestrator and artifact store, SQLite)")
    result = subprocess.run(
        [str(bench_root / "zenml-venv" / "bin" / "zenml"), "init"],
        cwd=repo,
        env=zenml_env(bench_root),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"zenml init failed:\n{result.stdout}\n{result.stderr}")
    return repo
