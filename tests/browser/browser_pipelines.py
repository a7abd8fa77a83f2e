"""Pipelines the browser tests start; importable, because workers import steps by module path."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import pandas as pd

from pipelines import (
    ArtifactConfig,
    Model,
    get_step_context,
    log_artifact_metadata,
    log_metadata,
    log_model_metadata,
    pipeline,
    step,
)
from pipelines.sdk.materializers import BaseMaterializer

LOG_LINE = "hello from the browser test, step greet"
SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
ATTRIBUTE_PAYLOAD = '"><img src=x onerror="window.__xss=1">'
PAYLOADS = (SCRIPT_PAYLOAD, ATTRIBUTE_PAYLOAD)


# --- a short run with one slow step, for watching it live --------------------------
@step
def greet(name: str) -> Annotated[dict[str, Any], "greeting"]:
    print(LOG_LINE, flush=True)
    return {"greeting": f"hello {name}", "numbers": [1, 2, 3]}


@step
def nap(greeting: dict[str, Any], seconds: float) -> Annotated[pd.DataFrame, "table"]:
    print(f"sleeping {seconds} s", flush=True)
    time.sleep(seconds)
    return pd.DataFrame(
        {"word": greeting["greeting"].split(), "length": [len(w) for w in greeting["greeting"].split()]}
    )


@step
def wrap_up(table: pd.DataFrame) -> int:
    return len(table)


@pipeline(enable_cache=False)
def live_pipeline(name: str = "world", seconds: float = 3.0):
    wrap_up(nap(greet(name), seconds=seconds))


# --- a step whose log grows while it runs ------------------------------------------
FIRST_LINE = "tail: the first line"
LAST_LINE = "tail: the last line"


@step
def talk(seconds: float) -> None:
    print(FIRST_LINE, flush=True)
    time.sleep(seconds)
    print(LAST_LINE, flush=True)
    time.sleep(seconds)


@pipeline(enable_cache=False)
def talking_pipeline(seconds: float = 3.0):
    talk(seconds=seconds)


# --- a model trained run after run, with metadata everywhere ------------------------
CHURN = Model(name="churn_classifier", description="Predicts which customers leave, from their usage.")


@step
def load_customers(rows: int) -> Annotated[pd.DataFrame, "customers"]:
    customers = pd.DataFrame(
        {
            "customer": [f"c{i:04d}" for i in range(rows)],
            "monthly_minutes": [(i * 37) % 900 for i in range(rows)],
            "support_calls": [(i * 7) % 6 for i in range(rows)],
            "churned": [int((i * 37) % 900 < 150) for i in range(rows)],
        }
    )
    log_artifact_metadata({"rows": rows, "churn_rate": round(float(customers["churned"].mean()), 4)})
    return customers


@step
def train_classifier(
    customers: pd.DataFrame, learning_rate: float
) -> Annotated[dict[str, Any], ArtifactConfig(name="classifier", is_model_artifact=True)]:
    print(f"training on {len(customers)} customers, learning rate {learning_rate}", flush=True)
    accuracy = round(0.97 - abs(learning_rate - 0.03) * 4, 4)
    log_metadata({"accuracy": accuracy, "epochs": 20, "learning_rate": learning_rate})
    log_model_metadata({"accuracy": accuracy, "f1": round(accuracy - 0.04, 4)})
    run = get_step_context().pipeline_run
    log_metadata({"accuracy": accuracy}, run_id_name_or_prefix=run.id)
    return {"weights": [0.4, -1.2, 0.7], "bias": 0.1, "learning_rate": learning_rate}


@step
def evaluate_classifier(classifier: dict[str, Any]) -> Annotated[dict[str, float], "metrics"]:
    accuracy = round(0.97 - abs(classifier["learning_rate"] - 0.03) * 4, 4)
    metrics = {"accuracy": accuracy, "precision": round(accuracy - 0.02, 4), "recall": round(accuracy - 0.06, 4)}
    log_artifact_metadata(metrics)
    return metrics


@pipeline(model=CHURN, enable_cache=False)
def training_pipeline(learning_rate: float = 0.03, rows: int = 200):
    evaluate_classifier(train_classifier(load_customers(rows), learning_rate=learning_rate))


# --- user text full of markup, everywhere a step can put text ---------------------
class HtmlReportMaterializer(BaseMaterializer):
    """Writes the string as report.html, which the dashboard previews in a sandboxed frame."""

    ASSOCIATED_TYPES = (str,)
    SKIP_REGISTRATION = True  # for this step only, not every str the worker saves

    def load(self, data_type: type) -> Any:
        with open(os.path.join(self.uri, "report.html"), encoding="utf-8") as file:
            return file.read()

    def save(self, data: Any) -> None:
        with open(os.path.join(self.uri, "report.html"), "w", encoding="utf-8") as file:
            file.write(data)


@step(output_materializers={"report": HtmlReportMaterializer})
def inject() -> tuple[
    Annotated[dict[str, str], ArtifactConfig(name="payload_json", tags=list(PAYLOADS))],
    Annotated[str, "report"],
    Annotated[pd.DataFrame, "payload_table"],
]:
    for payload in PAYLOADS:
        print(payload, flush=True)
    log_metadata({payload: payload for payload in PAYLOADS} | {"accuracy": 0.5, "note": ATTRIBUTE_PAYLOAD})
    log_metadata({SCRIPT_PAYLOAD: ATTRIBUTE_PAYLOAD}, infer_artifact=True, artifact_name="payload_json")
    log_model_metadata({SCRIPT_PAYLOAD: ATTRIBUTE_PAYLOAD, "accuracy": 0.5})
    html = f'<h1>report</h1>{SCRIPT_PAYLOAD}<img src=x onerror="parent.__xss=1;window.__xss=1">'
    table = pd.DataFrame({SCRIPT_PAYLOAD: [ATTRIBUTE_PAYLOAD, SCRIPT_PAYLOAD]})
    return {SCRIPT_PAYLOAD: ATTRIBUTE_PAYLOAD}, html, table


@step
def read_payload(payload_json: dict[str, str], label: str) -> Annotated[str, "echo"]:
    print(label, flush=True)
    return label


XSS_MODEL = Model(name="xss_model", description=SCRIPT_PAYLOAD + ATTRIBUTE_PAYLOAD, tags=list(PAYLOADS))


@pipeline(enable_cache=False, model=XSS_MODEL)
def xss_pipeline(label: str = SCRIPT_PAYLOAD):
    payload_json, _report, _table = inject()
    read_payload(payload_json, label=label)


# --- a big DAG ------------------------------------------------------------------------
@step
def cell(value: int = 0) -> int:
    return value + 1


@pipeline(enable_cache=False)
def hundred_steps_pipeline():
    """Ten layers of ten steps; each step reads one output of the layer before."""
    previous: list[Any] = [cell() for _ in range(10)]
    for _layer in range(9):
        previous = [cell(previous[(column * 3) % 10]) for column in range(10)]
