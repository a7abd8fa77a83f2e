"""Source paths (`module:qualname`), loading them back, and code hashes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
import uuid
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from pipelines import PipelineDefinitionError
from pipelines.sdk.source import code_hash, load_source, module_name_of, source_of, source_root
from tests.unit import sample_steps
from tests.unit.sample_steps import Opaque, load, numbers_pipeline, total

REPO_ROOT = Path(__file__).resolve().parents[4]


class TempModule:
    """A module file under a folder on sys.path that a test rewrites."""

    def __init__(self, folder: Path) -> None:
        self.name = f"probe_{uuid.uuid4().hex}"
        self.path = folder / f"{self.name}.py"

    def write(self, source: str) -> None:
        previous = self.path.stat().st_mtime if self.path.exists() else None
        self.path.write_text(textwrap.dedent(source))
        if previous is not None:
            # Same-second rewrites keep their mtime on coarse filesystems; bump it.
            os.utime(self.path, (previous + 10, previous + 10))


@pytest.fixture
def temp_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = TempModule(tmp_path)
    yield module
    sys.modules.pop(module.name, None)


# --- source_of -----------------------------------------------------------------
def test_source_of_a_module_level_function_is_module_and_qualname():
    assert source_of(sample_steps.total.entrypoint) == "tests.unit.sample_steps:total"


def test_source_of_a_step_is_the_source_of_its_function():
    assert source_of(total) == total.source == "tests.unit.sample_steps:total"


def test_source_of_a_class_is_module_and_qualname():
    assert source_of(Opaque) == "tests.unit.sample_steps:Opaque"


def test_source_of_a_nested_function_is_refused_with_a_hint():
    def nested():
        pass

    with pytest.raises(PipelineDefinitionError) as excinfo:
        source_of(nested)

    message = str(excinfo.value)
    assert "<locals>.nested" in message
    assert "defined inside a function" in message
    assert "Move it to module level" in message


# --- load_source -----------------------------------------------------------------
def test_load_source_round_trips_a_step():
    assert load_source(total.source) is total


@pytest.mark.parametrize("obj", [load, numbers_pipeline, Opaque, sample_steps.numbers_pipeline.entrypoint])
def test_load_source_round_trips_module_level_objects(obj):
    assert load_source(source_of(obj)) is load_source(source_of(obj))
    assert source_of(load_source(source_of(obj))) == source_of(obj)


def test_load_source_follows_a_dotted_qualname():
    assert load_source("tests.unit.sample_steps:Opaque.__init__") is Opaque.__init__


@pytest.mark.parametrize("path", ["tests.unit.sample_steps", "tests.unit.sample_steps:", ":total", ""])
def test_load_source_refuses_a_path_that_is_not_module_and_qualname(path):
    with pytest.raises(ImportError, match="module:qualname"):
        load_source(path)


def test_load_source_refuses_a_missing_attribute_naming_it():
    with pytest.raises(ImportError, match="has no attribute 'nope'"):
        load_source("tests.unit.sample_steps:nope")


def test_load_source_refuses_a_missing_module():
    with pytest.raises(ImportError):
        load_source("tests.unit.no_such_module:thing")


def test_load_source_imports_a_module_not_imported_yet(temp_module):
    temp_module.write("def value():\n    return 'fresh'\n")

    assert temp_module.name not in sys.modules
    assert load_source(f"{temp_module.name}:value")() == "fresh"


def test_load_source_reimports_a_module_whose_file_changed(temp_module):
    temp_module.write("def value():\n    return 1\n")
    assert load_source(f"{temp_module.name}:value")() == 1

    temp_module.write("def value():\n    return 2\n")

    assert load_source(f"{temp_module.name}:value")() == 2


def test_load_source_keeps_a_module_whose_file_did_not_change(temp_module):
    temp_module.write("def value():\n    return 1\n")

    first = load_source(f"{temp_module.name}:value")

    assert load_source(f"{temp_module.name}:value") is first


# --- code_hash -------------------------------------------------------------------
def test_code_hash_is_a_stable_sha256():
    assert code_hash(total.entrypoint) == code_hash(total.entrypoint) == total.code_hash
    assert len(total.code_hash) == 64


def test_code_hash_differs_between_functions():
    assert code_hash(load.entrypoint) != code_hash(total.entrypoint)


def test_code_hash_changes_when_the_function_body_changes(temp_module):
    temp_module.write("def value():\n    return 1\n")
    before = code_hash(load_source(f"{temp_module.name}:value"))

    temp_module.write("def value():\n    return 2\n")
    after = code_hash(load_source(f"{temp_module.name}:value"))

    assert before != after


def test_code_hash_changes_when_a_helper_in_the_same_module_changes(temp_module):
    temp_module.write("def helper():\n    return 1\n\ndef value():\n    return helper()\n")
    before = code_hash(load_source(f"{temp_module.name}:value"))

    temp_module.write("def helper():\n    return 2\n\ndef value():\n    return helper()\n")
    after = code_hash(load_source(f"{temp_module.name}:value"))

    assert before != after


def test_code_hash_of_a_function_without_source_falls_back_to_its_name():
    assert len(code_hash(len)) == 64


# --- scripts run as __main__ ---------------------------------------------------------
SCRIPT = """\
from pipelines import PipelineDefinitionError, pipeline, step
from pipelines.sdk.source import source_of


@step
def my_step() -> int:
    return 1


@pipeline
def my_pipeline():
    my_step()


if __name__ == "__main__":
    try:
        spec = my_pipeline.compile()
    except PipelineDefinitionError as exc:
        print(f"refused: {exc}")
    else:
        print(source_of(my_step))
        print(spec["steps"][0]["source"])
        print(spec["pipeline_source"])
"""


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "pkg" / "script.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    return path


def _run(args: list[str], *, cwd: Path, pythonpath: list[Path], source_root: Path | None) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != "PIPELINES_SOURCE_ROOT"}
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    if source_root is not None:
        env["PIPELINES_SOURCE_ROOT"] = str(source_root)
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_script_run_as_main_gets_its_module_name_relative_to_the_source_root(script, tmp_path):
    lines = _run([str(script)], cwd=REPO_ROOT, pythonpath=[REPO_ROOT], source_root=tmp_path)

    assert lines == ["pkg.script:my_step", "pkg.script:my_step", "pkg.script:my_pipeline"]


def test_without_a_configured_root_a_script_is_named_relative_to_its_own_folder(script):
    lines = _run([str(script)], cwd=REPO_ROOT, pythonpath=[REPO_ROOT], source_root=None)

    assert lines[0] == "script:my_step"


def test_a_module_run_with_dash_m_keeps_its_module_name(script, tmp_path):
    lines = _run(["-m", "pkg.script"], cwd=tmp_path, pythonpath=[REPO_ROOT, tmp_path], source_root=None)

    assert lines[0] == "pkg.script:my_step"


def test_a_script_outside_the_source_root_is_refused(script, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    lines = _run([str(script)], cwd=REPO_ROOT, pythonpath=[REPO_ROOT], source_root=elsewhere)

    assert lines[0].startswith("refused: ")
    assert "outside the source root" in lines[0]
    assert "PIPELINES_SOURCE_ROOT" in lines[0]


def _fake_main(file: Path | None, spec_name: str | None = None) -> types.ModuleType:
    module = types.ModuleType("__main__")
    if file is not None:
        module.__file__ = str(file)
    module.__spec__ = ModuleSpec(spec_name, None) if spec_name else None
    return module


def test_module_name_of_a_main_module_outside_the_root_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(tmp_path / "root"))

    with pytest.raises(PipelineDefinitionError, match="outside the source root"):
        module_name_of(_fake_main(tmp_path / "elsewhere" / "script.py"))


def test_module_name_of_a_main_module_inside_the_root_uses_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(tmp_path))

    assert module_name_of(_fake_main(tmp_path / "a" / "b" / "job.py")) == "a.b.job"


def test_module_name_of_a_main_module_started_with_dash_m_uses_its_spec_name():
    assert module_name_of(_fake_main(Path("/anywhere/job.py"), spec_name="pkg.job")) == "pkg.job"


def test_module_name_of_an_interactive_main_module_is_refused_with_a_hint():
    with pytest.raises(PipelineDefinitionError, match="REPL or notebook"):
        module_name_of(_fake_main(None))


def test_the_first_entry_of_pipelines_source_root_is_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", os.pathsep.join([str(tmp_path / "first"), str(tmp_path / "second")]))

    assert source_root() == (tmp_path / "first").resolve()
