"""Pipelines the browser tests start; importable, because workers import steps by module path."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import pandas as pd

from pipelines import ArtifactConfig, log_metadata, pipeline, step
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


# --- user text full of markup, everywhere a step can put text ---------------------
class HtmlReportMaterializer(BaseMaterializer):
    """Writes the string as report.html, which the dashboard previews in a sandboxed frame."""

    ASSOCIATED_TYPES = (str,)

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
    html = f'<h1>report</h1>{SCRIPT_PAYLOAD}<img src=x onerror="parent.__xss=1;window.__xss=1">'
    table = pd.DataFrame({SCRIPT_PAYLOAD: [ATTRIBUTE_PAYLOAD, SCRIPT_PAYLOAD]})
    return {SCRIPT_PAYLOAD: ATTRIBUTE_PAYLOAD}, html, table


@step
def read_payload(payload_json: dict[str, str], label: str) -> Annotated[str, "echo"]:
    print(label, flush=True)
    return label


@pipeline(enable_cache=False)
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
