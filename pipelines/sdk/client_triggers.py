"""The Client's methods for starting a run of a stored pipeline without its code (trigger_pipeline).

A mixin of `pipelines.sdk.client.Client`: its methods use the Client's `_request` and
`_list`, and are documented as the Client's own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipelines.sdk.exceptions import PipelinesError, ServerError

if TYPE_CHECKING:
    from pipelines.sdk.responses import PipelineRun

# How long trigger_pipeline waits for a worker to compile a dynamic DAG into a run.
COMPILE_TIMEOUT_SECONDS = 120.0
COMPILE_POLL_SECONDS = 0.5


class TriggerMethods:
    _request: Any

    def trigger_pipeline(
        self,
        pipeline_name_or_id: int | str,
        *,
        parameters: dict[str, Any] | None = None,
        enable_cache: bool | None = None,
        run_name: str | None = None,
        version: int | None = None,
        run_configuration: dict[str, Any] | None = None,
        wait: bool = False,
        synchronous: bool | None = None,
        timeout: float | None = None,
    ) -> PipelineRun:
        """Start a run of a pipeline stored on the server with new parameters, without
        its code (as ZenML's `Client().trigger_pipeline`).

        The run starts from the pipeline's newest compiled version (`version=`: that
        number). `parameters` are checked on the server against the pipeline
        function's signature: an unknown name or a wrong type is a ServerError (400)
        naming it; missing ones take their defaults. `enable_cache=False` runs every
        step; `run_name` names the run. `run_configuration` may hold the same keys
        (`parameters`, `enable_cache`, `run_name`), as ZenML's; the keywords win.

        A pipeline whose DAG depends on its parameters is compiled again by a worker
        first: this waits for that run to exist (up to `timeout`, default 120 s).
        Returns the run; `wait=True` (or ZenML's `synchronous=True`) waits for it to
        finish, printing progress.
        """
        config = dict(run_configuration or {})
        unknown = sorted(set(config) - {"parameters", "enable_cache", "run_name"})
        if unknown:
            raise PipelinesError(
                f"run_configuration keys {', '.join(unknown)} are not supported here; use parameters, "
                "enable_cache and run_name."
            )
        body = {
            "parameters": {**(config.get("parameters") or {}), **(parameters or {})},
            "enable_cache": enable_cache if enable_cache is not None else config.get("enable_cache"),
            "run_name": run_name if run_name is not None else config.get("run_name"),
            "version": version,
        }
        key = quote(str(pipeline_name_or_id), safe="")
        answer = self._request("POST", f"pipelines/{key}/runs/", json=body)
        if "steps" in answer:  # 201: the run (static DAG)
            run = self._run_from(answer)
        else:  # 202: a worker compiles it first
            run = self._run_of_request(answer, timeout=COMPILE_TIMEOUT_SECONDS if timeout is None else timeout)
        if wait or synchronous:
            return run.wait(progress=True)
        return run

    def list_pipeline_versions(self, pipeline_name_or_id: int | str) -> list[dict[str, Any]]:
        """The pipeline's stored versions, newest first: each a dict with `number`,
        `dag` ("static" or "dynamic"), `parameter_schema` (name, type, nullable,
        default) and `starts_without_code`; what trigger_pipeline can start."""
        key = quote(str(pipeline_name_or_id), safe="")
        versions: list[dict[str, Any]] = []
        path: str | None = f"pipelines/{key}/versions/"
        while path:
            page = self._request("GET", path)
            versions += page["results"]
            path = page["next"].split("/api/v1/", 1)[-1] if page.get("next") else None
        return versions

    def _run_from(self, data: dict[str, Any]) -> PipelineRun:
        from pipelines.sdk.responses import PipelineRun

        return PipelineRun.from_api(data, self)

    def _run_of_request(self, request: dict[str, Any], *, timeout: float) -> PipelineRun:
        path = request["url"].split("/api/v1/", 1)[-1]
        deadline = time.monotonic() + timeout
        while True:
            page = self._request("GET", path)
            current = page["results"][0] if page.get("results") else request
            if current["status"] == "started" and current.get("run"):
                return self._run_from(self._request("GET", f"runs/{current['run']}/"))
            if current["status"] == "failed":
                raise ServerError(f"The run could not start: {current.get('error') or 'compiling failed'}")
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"No worker compiled run request {current['id']} within {timeout:.0f} s (status "
                    f"{current['status']}): is a worker consuming the pipeline's queue? Follow it at {request['url']}."
                )
            time.sleep(COMPILE_POLL_SECONDS)
