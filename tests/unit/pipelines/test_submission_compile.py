"""The SDK's compile keeps each step function's code hash while its files are
unchanged: a pipeline invoking one step 1,000 times hashes it once, and an edit on
disk still changes the hash at the next compile (the worker re-imports the file)."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import uuid

import pytest

from pipelines.sdk import source
from pipelines.sdk.source import code_hash

# The module, not the `step` decorator that `pipelines.sdk` exports under that name.
step_module = importlib.import_module("pipelines.sdk.step")

MODULE = """\
from pipelines import pipeline, step


@step(enable_cache=False)
def noop() -> None:
    return {body}


@pipeline(enable_cache=False)
def wide(width: int = 50):
    names = [noop(id=f"noop_{{i:04d}}") for i in range(width)]
    noop(id="join", after=names)
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(tmp_path))
    name = f"probe_{uuid.uuid4().hex}"
    path = tmp_path / f"{name}.py"

    def write(body: str) -> object:
        previous = path.stat().st_mtime if path.exists() else None
        path.write_text(textwrap.dedent(MODULE.format(body=body)))
        if previous is not None:  # same-second rewrites on coarse filesystems
            os.utime(path, (previous + 10, previous + 10))
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)

    yield write
    sys.modules.pop(name, None)


def test_a_step_invoked_many_times_is_hashed_once(probe, monkeypatch):
    module = probe("None")
    calls = []
    monkeypatch.setattr(step_module, "code_hash", lambda func: calls.append(func) or source.code_hash(func))

    spec = module.wide.compile(width=200)

    assert len(calls) == 1
    assert {step["code_hash"] for step in spec["steps"]} == {code_hash(module.noop.entrypoint)}
    module.wide.compile(width=200)
    assert len(calls) == 1  # a second compile of the same code hashes nothing


def test_an_edit_on_disk_changes_the_hash_at_the_next_compile(probe):
    module = probe("None")
    before = module.wide.compile(width=3)["steps"][0]["code_hash"]
    old_function = module.noop

    module = probe("1")
    after = module.wide.compile(width=3)["steps"][0]["code_hash"]

    assert after != before
    assert after == code_hash(module.noop.entrypoint)
    # Even the old function object, whose file changed under it, is hashed again, as
    # `code_hash` reads the file on disk.
    assert old_function.code_hash == code_hash(old_function.entrypoint) != before


def test_a_callable_that_cannot_be_weakly_referenced_is_hashed_every_time():
    assert step_module._cached_code_hash(len) == code_hash(len)
