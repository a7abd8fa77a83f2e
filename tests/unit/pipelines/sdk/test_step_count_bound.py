"""A pipeline body that loops over a parameter stops at MAX_STEPS invocations while it
is traced, with the spec's own refusal: a run started without the code with n=10**30
no longer fills the compiling worker's memory."""

from __future__ import annotations

import time

import pytest

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.spec import MAX_STEPS
from tests.unit import trigger_pipelines as tp


def test_a_loop_over_a_huge_parameter_is_refused_at_the_step_limit_quickly():
    started = time.monotonic()
    with pytest.raises(PipelineDefinitionError, match=f"at most {MAX_STEPS:,} steps"):
        tp.loop_pipeline.compile(n=10**30)
    assert time.monotonic() - started < 30


def test_a_pipeline_of_exactly_the_limit_still_compiles():
    assert len(tp.loop_pipeline.compile(n=MAX_STEPS)["steps"]) == MAX_STEPS
