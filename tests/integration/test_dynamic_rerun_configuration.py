"""A dynamic pipeline configured by a YAML file, started again through the Client
without its code: the real worker compiles it from the decorated function and the
run keeps the file's tags, extra, settings and step options."""

from __future__ import annotations

import pytest

from pipelines.client import Client
from pipelines.models import PipelineRun
from tests.integration import trigger_pipelines as tp

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONFIG = """\
tags: [nightly]
extra:
  team: ml
settings:
  resources:
    cpu_count: 2
steps:
  square_1:
    extra:
      note: first
    timeout: 30
"""


def test_a_recompiled_dynamic_run_keeps_the_yaml_configuration(running_worker, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    first = tp.trigger_loop.with_options(config_path=str(config))(n=1)
    assert first.status == "completed"
    assert first.tags == ["nightly"]

    run = Client().trigger_pipeline("trigger_loop", parameters={"n": 2}, wait=True)

    assert run.status == "completed"
    assert run.steps["total"].output.load() == 1 + 4
    assert run.tags == ["nightly"]
    assert run.config["extra"] == {"team": "ml"}
    assert (run.trigger, run.pipeline_version) == ("api", first.pipeline_version)
    steps = {step["name"]: step for step in PipelineRun.objects.get(id=run.id).spec["steps"]}
    assert steps["square_1"]["extra"] == {"note": "first"}
    assert steps["square_1"]["timeout"] == 30
    assert steps["square_2"]["settings"] == {"resources": {"cpu_count": 2}}
    assert "timeout" not in steps["square_2"]
