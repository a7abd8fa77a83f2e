"""A pipeline run from a YAML run configuration on a real worker: the file's pipeline
parameter, step parameters, cache setting, extra and tags reach the run and its steps."""

from __future__ import annotations

import pytest

from pipelines.client import Client
from pipelines.models import PipelineRun, StepRun
from tests.integration import config_pipelines as sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONFIG = """\
enable_cache: False
run_name: "configured-{date}-{time}"
tags: ["nightly", "from-yaml"]
extra:
  trainings: 2
parameters:
  dataset_name: "best_dataset"
steps:
  load_data:
    parameters:
      rows: 3
  train_model_1:
    parameters:
      learning_rate: 0.001
"""


def test_a_yaml_configured_run_has_the_files_tags_and_step_parameters(running_worker, owner, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)

    run = sample.configured_training.with_options(config_path=str(config), tags=["from-code"])()

    assert run.status == "completed"
    assert run.name.startswith("configured-")
    assert run.tags == ["nightly", "from-yaml", "from-code"]
    assert run.parameters == {"dataset_name": "best_dataset"}
    assert run.config["extra"] == {"trainings": 2}
    row = PipelineRun.objects.get(id=run.id)
    assert row.tags == ["nightly", "from-yaml", "from-code"]
    steps = {step.name: step for step in StepRun.objects.filter(pipeline_run=row)}
    assert set(steps) == {"load_data", "train_model_0", "train_model_1"}
    assert steps["load_data"].parameters == {"dataset_name": "best_dataset", "rows": 3}
    assert steps["train_model_1"].parameters == {"learning_rate": 0.001}
    assert steps["train_model_0"].parameters == {}
    # What the worker ran with, read back through the Client.
    assert run.steps["load_data"].outputs["output"].load() == ["best_dataset-0", "best_dataset-1", "best_dataset-2"]
    assert run.steps["train_model_1"].outputs["output"].load() == {
        "rows": 3,
        "learning_rate": 0.001,
        "step": "train_model_1",
    }
    assert [found.id for found in Client().list_pipeline_runs(tags=["nightly", "from-code"])] == [run.id]
    # ZenML's "Find out which configuration was used for a run", ported.
    pipeline_run = Client().get_pipeline_run(run.name)
    configuration = pipeline_run.config
    assert configuration["enable_cache"] is False
    assert configuration["tags"] == ["nightly", "from-yaml", "from-code"]
    assert pipeline_run.steps["train_model_1"].config.parameters["learning_rate"] == 0.001
