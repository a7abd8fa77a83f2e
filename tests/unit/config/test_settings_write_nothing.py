"""Importing the settings writes nothing; a process makes its folders and keys when it starts."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

SETTINGS_MODULES = [
    "config.settings.base",
    "config.settings.local",
    "config.settings.test",
    "config.settings.production",
]


def _environment(tmp_path: Path, module: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE", "FERNET_KEYS", "CELERY_", "PIPELINES_"))
    }
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(
        DJANGO_SETTINGS_MODULE=module,
        PIPELINES_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(settings.BASE_DIR),
        PYTHONDONTWRITEBYTECODE="1",
        TMPDIR=str(tmp),
    )
    if module == "config.settings.production":
        env.update(
            DJANGO_SECRET_KEY="x" * 50,
            DJANGO_ALLOWED_HOSTS="example.com",
            DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}",
            CELERY_BROKER_URL="redis://127.0.0.1:1/0",
            FERNET_KEYS=Fernet.generate_key().decode(),
        )
    env.update(extra)
    return env


def _run(tmp_path: Path, module: str, code: str, **extra: str) -> subprocess.CompletedProcess:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_environment(tmp_path, module, **extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_importing_a_settings_module_creates_nothing(tmp_path, module):
    done = _run(tmp_path, module, f"import importlib; m = importlib.import_module({module!r}); print(m.DATA_DIR)")

    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data").exists()
    assert Path(done.stdout.strip()) == tmp_path / "data"
    assert _everything_under(tmp_path / "cwd") == []
    assert _everything_under(tmp_path / "tmp") == []


def test_the_test_settings_name_a_data_folder_of_their_own_without_making_it(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PIPELINES_DATA_DIR"}
    (tmp_path / "tmp").mkdir()
    env.update(PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(tmp_path / "tmp"))
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings.test as s; print(s.DATA_DIR)"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path / "tmp"
    assert _everything_under(tmp_path / "tmp") == []


def test_a_process_makes_its_folders_when_it_starts_and_its_keys_on_first_use(tmp_path):
    code = textwrap.dedent(
        """
        import django, os
        from django.conf import settings
        django.setup()
        print(sorted(os.listdir(settings.DATA_DIR)))
        assert settings.SECRET_KEY and settings.FERNET_KEYS
        print(sorted(os.listdir(settings.DATA_DIR)))
        """
    )
    done = _run(tmp_path, "config.settings.local", code)

    assert done.returncode == 0, done.stderr
    started, used = done.stdout.splitlines()
    assert started == str(["broker", "staticfiles"])
    assert used == str(["broker", "django_secret_key", "fernet_keys", "staticfiles"])
    for name in ("django_secret_key", "fernet_keys"):
        assert (tmp_path / "data" / name).stat().st_mode & 0o777 == 0o600


def test_processes_starting_together_on_a_fresh_folder_agree_on_the_keys(tmp_path):
    # Each process waits at the gate, then reads both keys at once: the first to write
    # each key wins and every process must see that one, never an empty or other key.
    gate = tmp_path / "gate"
    code = textwrap.dedent(
        f"""
        import os, time
        import django
        from django.conf import settings
        django.setup()
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.001)
        print(repr((str(settings.SECRET_KEY), list(settings.FERNET_KEYS))))
        """
    )
    env = _environment(tmp_path, "config.settings.local")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(3)  # every process is set up and waiting (setup writes no key)
    assert not (tmp_path / "data" / "django_secret_key").exists()
    gate.touch()
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0] * len(processes), [err for _, err in outputs]
    seen = {out.strip() for out, _ in outputs}
    assert len(seen) == 1
    secret_key, fernet_keys = ast.literal_eval(seen.pop())
    assert len(secret_key) == 50
    assert secret_key == (tmp_path / "data" / "django_secret_key").read_text().strip()
    assert len(fernet_keys) == 1
    Fernet(fernet_keys[0])
    assert [p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".")] == []
