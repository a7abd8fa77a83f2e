"""The HTTP client for the pipelines server, usable from any script.

Its HTTP (urllib3) is imported on first use, so `from pipelines import step` stays fast.
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk.client_schedules import ScheduleMethods
from pipelines.sdk.client_triggers import TriggerMethods
from pipelines.sdk.config import load_client_config
from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import AuthenticationError, ServerError
from pipelines.sdk.filter_syntax import translate_filters, translate_sort
from pipelines.sdk.masking import SecretMasker
from pipelines.sdk.responses import (
    Artifact,
    ArtifactVersion,
    ModelInfo,
    ModelVersion,
    Page,
    PipelineModel,
    PipelineRun,
    StepRun,
)
from pipelines.sdk.secrets import Secret, SecretSummary

VIEW_SECRET_VALUES_PERMISSION = "secrets_app.view_secret_values"  # noqa: S105  (a permission name)
CREATE_RUN_TIMEOUT = 300.0
# How many runs a name prefix may match before the ambiguity error stops listing them.
PREFIX_MATCH_LIMIT = 10


class Client(ScheduleMethods, TriggerMethods):
    def __init__(self, server_url: str | None = None, api_token: str | None = None) -> None:
        config = load_client_config(server_url, api_token)
        self.server_url = config.server_url
        self._token = config.api_token
        self._session: Any = None

    def __repr__(self) -> str:
        return f"<Client {self.server_url}>"

    # --- transport --------------------------------------------------------------
    def _http(self) -> Any:
        if self._session is None:
            from pipelines.sdk.transport import HttpTransport

            self._session = HttpTransport(self.server_url, self._token)
        return self._session

    def _request(self, method: str, path: str, *, timeout: float = 30.0, **kwargs: Any) -> Any:
        from pipelines.sdk.transport import ServerTimeout, ServerUnreachable

        url = f"{self.server_url}/api/v1/{path.lstrip('/')}"
        try:
            response = self._http().request(method, url, timeout=timeout, **kwargs)
        except ServerTimeout as exc:
            raise ServerError(f"The pipelines server at {self.server_url} is too slow: {exc}.") from None
        except ServerUnreachable as exc:
            raise ServerError(
                f"Cannot reach the pipelines server at {self.server_url} ({exc}). Start it (`make demo`, "
                "or `python manage.py runserver`) or set PIPELINES_SERVER_URL."
            ) from None
        if response.status_code >= 300:
            self._raise_for_status(method, path, response)
        return response.json() if response.content else None

    def _raise_for_status(self, method: str, path: str, response: Any) -> None:
        """Raise the error an answer of status 300 or more stands for."""
        if 300 <= response.status_code < 400:
            from pipelines.sdk.transport import redirect_explanation

            asked = f"{self.server_url}/api/v1/{path.lstrip('/')}"
            raise ServerError(
                f"{method} {path}: {redirect_explanation(asked, response.headers.get('Location'))}",
                status_code=response.status_code,
            )
        if response.status_code == 401:
            raise AuthenticationError(
                "The server refused the API token (401). Create a new one with "
                "`python manage.py create_api_token USERNAME` and set PIPELINES_API_TOKEN.",
                status_code=401,
            )
        if response.status_code >= 400:
            code, errors = None, None
            try:
                body = response.json()
                detail, code, errors = body.get("detail", response.text), body.get("code"), body.get("errors")
            except (ValueError, AttributeError):
                detail = response.text[:500]
            if isinstance(errors, dict) and len(errors) > 1:
                # The server's detail names the first field only and points to `errors`,
                # which a user of the SDK never sees: name every field here.
                detail = "Invalid input: " + _field_errors(errors)
            error = ServerError(
                f"{method} {path} failed ({response.status_code}): {detail}", status_code=response.status_code
            )
            error.code = code  # type: ignore[attr-defined]  # the API's stable error code
            error.errors = errors  # type: ignore[attr-defined]  # field -> messages, for a 400
            raise error

    def dashboard_url(self, run: PipelineRun) -> str:
        return f"{self.server_url}/runs/{run.id}/"

    # --- runs ---------------------------------------------------------------------
    def create_run(self, spec: dict[str, Any]) -> PipelineRun:
        # The server writes every step's row before answering: a spec at the limit of
        # 10,000 steps took ~27 s on a busy PostgreSQL, close to the default 30 s.
        return PipelineRun.from_api(self._request("POST", "runs/", json=spec, timeout=CREATE_RUN_TIMEOUT), self)

    def get_pipeline_run(
        self,
        run_id: int | str | None = None,
        *,
        name_id_or_prefix: int | str | None = None,
        allow_name_prefix_match: bool = True,
    ) -> PipelineRun:
        """A run by id, name or (as ZenML's) a prefix of its name that only one run has."""
        key = _one_key("run_id", run_id, "name_id_or_prefix", name_id_or_prefix)
        try:
            return PipelineRun.from_api(self._request("GET", f"runs/{key}/"), self)
        except ServerError as exc:
            if exc.status_code != 404 or not isinstance(key, str) or not allow_name_prefix_match:
                raise
        # The server's name filter is a case-insensitive "contains": keep the prefixes.
        found = self._request("GET", "runs/", params={"name": key, "limit": PREFIX_MATCH_LIMIT + 1})
        names = sorted(run["name"] for run in found["results"] if run["name"].startswith(key))
        if not names:
            raise KeyError(f"No pipeline run with id, name or name prefix {key!r}.")
        if len(names) > 1:
            listed = ", ".join(names[:PREFIX_MATCH_LIMIT]) + (" ..." if len(names) > PREFIX_MATCH_LIMIT else "")
            raise KeyError(f"{key!r} is the start of several run names ({listed}); give more of the name, or the id.")
        return PipelineRun.from_api(self._request("GET", f"runs/{names[0]}/"), self)

    def stop_pipeline_run(self, run_id: int | str) -> PipelineRun:
        return PipelineRun.from_api(self._request("POST", f"runs/{run_id}/stop/"), self)

    def list_pipeline_runs(
        self, *, page: int = 1, size: int = 50, sort_by: str = "-created_at", **filters: Any
    ) -> Page[PipelineRun]:
        """Runs, newest first. Filters: pipeline, status, name (contains), created_after,
        created_before (ISO datetimes), metadata_key; in ZenML's syntax too:
        created="gt:2024-01-01" (gt, gte, lt, lte, equals), name="contains:x",
        status="equals:completed", sort_by="desc:created" or "asc:name"; tag="x" (runs
        with that tag) or tags=["x", "y"] (runs with all of them)."""
        if "tags" in filters:  # ZenML's list form; the API takes `tag`, repeated
            tags = filters.pop("tags")
            given = [filters.pop("tag")] if "tag" in filters else []
            filters["tag"] = [*given, *([tags] if isinstance(tags, str) else list(tags or []))]
        return self._list("runs/", PipelineRun, page=page, size=size, sort_by=sort_by, filters=filters)

    def get_run_step(self, step_run_id: int) -> StepRun:
        return StepRun.from_api(self._request("GET", f"steps/{step_run_id}/"), self)

    def get_step_logs(self, step_run_id: int) -> str:
        """A step run's captured log text (secret values the step read are masked)."""
        return self._request("GET", f"steps/{int(step_run_id)}/logs/")["logs"]

    def list_run_steps(self, *, page: int = 1, size: int = 50, sort_by: str = "id", **filters: Any) -> Page[StepRun]:
        """Step runs. Filters: run (id or name), status, name, metadata_key."""
        return self._list("steps/", StepRun, page=page, size=size, sort_by=sort_by, filters=filters)

    def wait_for_run_change(self, run_id: int, *, revision: int, timeout: float) -> dict[str, Any]:
        """Long-poll: the run's status, revision and step statuses once its revision
        passes `revision` (or after `timeout` seconds), and how many workers are alive."""
        return self._request(
            "GET",
            f"runs/{run_id}/wait/",
            params={"revision": revision, "timeout": f"{timeout:.3f}"},
            timeout=timeout + 30.0,
        )

    # --- metadata -----------------------------------------------------------------
    def create_run_metadata(
        self,
        entries: list[dict[str, Any]],
        *,
        artifact_version_id: int | None = None,
        step_run_id: int | None = None,
        pipeline_run_id: int | None = None,
        model_version_id: int | None = None,
    ) -> None:
        """Store encoded metadata entries (see `pipelines.sdk.metadata.encode`) on one target."""
        target = {
            "artifact_version": artifact_version_id,
            "step_run": step_run_id,
            "pipeline_run": pipeline_run_id,
            "model_version": model_version_id,
        }
        body = {key: value for key, value in target.items() if value is not None}
        masker = _running_step_masker()
        if masker is not None:
            entries = masker.mask_metadata(entries)
        self._request("POST", "metadata/", json={**body, "entries": entries})

    # --- pipelines and artifacts --------------------------------------------------
    def get_pipeline(
        self, name_or_id: int | str | None = None, *, name_id_or_prefix: int | str | None = None
    ) -> PipelineModel:
        key = _one_key("name_or_id", name_or_id, "name_id_or_prefix", name_id_or_prefix)
        return PipelineModel.from_api(self._request("GET", f"pipelines/{key}/"), self)

    def list_pipelines(
        self, *, page: int = 1, size: int = 50, sort_by: str = "name", tag: str | None = None
    ) -> Page[PipelineModel]:
        """Pipelines; `tag=` those with this tag (as ZenML's)."""
        filters = {} if tag is None else {"tag": tag}
        return self._list("pipelines/", PipelineModel, page=page, size=size, sort_by=sort_by, filters=filters)

    def get_artifact(
        self, name_or_id: int | str | None = None, *, name_id_or_prefix: int | str | None = None
    ) -> Artifact:
        key = _one_key("name_or_id", name_or_id, "name_id_or_prefix", name_id_or_prefix)
        return Artifact.from_api(self._request("GET", f"artifacts/{key}/"), self)

    def list_artifacts(self, *, page: int = 1, size: int = 50, sort_by: str = "name", **filters: Any) -> Page[Artifact]:
        """Artifacts. Filters: name (contains)."""
        return self._list("artifacts/", Artifact, page=page, size=size, sort_by=sort_by, filters=filters)

    def list_artifact_versions(
        self, *, page: int = 1, size: int = 50, sort_by: str = "-id", **filters: Any
    ) -> Page[ArtifactVersion]:
        """Ready artifact versions. Filters: artifact (id or name), version, tag,
        metadata_key, created_after, created_before."""
        return self._list("artifact-versions/", ArtifactVersion, page=page, size=size, sort_by=sort_by, filters=filters)

    def download_artifact_version(
        self,
        version_id: int,
        folder: str,
        *,
        checksum: str = "",
        size: int | None = None,
        uri: str = "",
        timeout: float = 60.0,
    ) -> str:
        """Stream a ready version's bytes from the server to disk below `folder` and
        return the local path of the copy (`<folder>/saved/<id>`, or the one file in it).

        The copy is checked against the version's checksum (the one given, else the
        one the server sends) and raises ArtifactIntegrityError naming the version's
        uri if it does not match; the server answers 409, also naming it, when its
        own copy is missing or damaged. `timeout` bounds each wait for bytes.
        """
        from pipelines.sdk.artifact_access import DOWNLOAD_HEADERS, save_download
        from pipelines.sdk.stores import ArtifactIntegrityError
        from pipelines.sdk.transport import ServerTimeout, ServerUnreachable

        path = f"artifact-versions/{int(version_id)}/download/"
        url = f"{self.server_url}/api/v1/{path}"

        def fetch(write: Any) -> dict[str, str]:
            try:
                response = self._http().download(url, write=write, timeout=timeout)
            except (ServerTimeout, ServerUnreachable) as exc:
                raise ServerError(
                    f"Downloading artifact version {version_id} from {self.server_url} failed: {exc}."
                ) from None
            if response.status_code != 200:
                self._raise_for_status("GET", path, response)
            return {key: response.headers.get(key, "") for key in DOWNLOAD_HEADERS}

        try:
            return save_download(
                fetch, folder=folder, version_id=int(version_id), uri=uri, checksum=checksum, size=size
            )
        except ServerError as exc:
            if getattr(exc, "code", None) == "artifact_bytes_damaged":
                # The server's copy is missing or damaged: the same error as reading it here.
                raise ArtifactIntegrityError(str(exc)) from None
            raise

    # --- models -------------------------------------------------------------------
    def get_model(self, name_or_id: int | str | None = None, *, model_name_or_id: int | str | None = None) -> ModelInfo:
        key = _one_key("name_or_id", name_or_id, "model_name_or_id", model_name_or_id)
        return ModelInfo.from_api(self._request("GET", f"models/{key}/"), self)

    def list_models(self, *, page: int = 1, size: int = 50, sort_by: str = "name", **filters: Any) -> Page[ModelInfo]:
        return self._list("models/", ModelInfo, page=page, size=size, sort_by=sort_by, filters=filters)

    def get_model_version(
        self,
        model_name_or_id: int | str,
        version_or_stage: int | str | None = None,
        *,
        model_version_name_or_number_or_id: int | str | None = None,
    ) -> ModelVersion:
        """A version by name, number, stage (staging, production, archived) or `latest`
        (the default). `model_version_name_or_number_or_id` is ZenML's name for the
        second argument; an int there is a number, as here ids and numbers are both ints."""
        if version_or_stage is None and model_version_name_or_number_or_id is None:
            version_or_stage = "latest"
        else:
            version_or_stage = _one_key(
                "version_or_stage",
                version_or_stage,
                "model_version_name_or_number_or_id",
                model_version_name_or_number_or_id,
            )
        found = self.list_model_versions(model_name_or_id, version=str(version_or_stage), size=1)
        if not found.items:
            raise KeyError(f"Model {model_name_or_id!r} has no version {version_or_stage!r}.")
        return found.items[0]

    def get_model_version_by_id(self, model_version_id: int) -> ModelVersion:
        return ModelVersion.from_api(self._request("GET", f"model-versions/{model_version_id}/"), self)

    def list_model_versions(
        self, model_name_or_id: int | str, *, page: int = 1, size: int = 50, sort_by: str = "-number", **filters: Any
    ) -> Page[ModelVersion]:
        """Versions of a model. Filters: stage, version (name, number, stage or `latest`)."""
        filters = {**filters, "model": model_name_or_id}
        return self._list("model-versions/", ModelVersion, page=page, size=size, sort_by=sort_by, filters=filters)

    def update_model_version(
        self,
        model_name_or_id: int | str,
        version_name_or_id: int | str,
        stage: str | None = None,
        force: bool = False,
        name: str | None = None,
        description: str | None = None,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> ModelVersion:
        """Rename a version, change its description and/or move it to a stage (taking
        a stage another version holds needs force=True); `add_tags` / `remove_tags` as
        ZenML's. An int is the version's id. Needs `pipelines.change_modelversion`."""
        if isinstance(version_name_or_id, int):
            version_id = version_name_or_id
        else:
            version_id = self.get_model_version(model_name_or_id, version_name_or_id).id
        changes = {"stage": None if stage is None else str(stage), "name": name, "description": description}
        body = {key: value for key, value in changes.items() if value is not None}
        self._change_tags(f"model-versions/{version_id}", add_tags, remove_tags)
        data = self._request("PATCH", f"model-versions/{version_id}/", json={**body, "force": force})
        return ModelVersion.from_api(data, self)

    def _change_tags(self, path: str, add: list[str] | None, remove: list[str] | None) -> None:
        if add or remove:
            self._request("POST", f"{path}/tags/", json={"add": list(add or []), "remove": list(remove or [])})

    def create_model(
        self, name: str, description: str | None = None, tags: list[str] | None = None, **card: str | None
    ) -> ModelInfo:
        """A new model; `card` is ZenML's model card (license, audience, use_cases,
        limitations, trade_offs, ethics). Needs `pipelines.add_mlmodel`."""
        body = {"name": name, "description": description or "", "tags": list(tags or []), **_card(card)}
        return ModelInfo.from_api(self._request("POST", "models/", json=body), self)

    def update_model(
        self,
        model_name_or_id: int | str,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        **card: str | None,
    ) -> ModelInfo:
        """Rename a model or change its description, tags (all of them with `tags`, or
        `add_tags` / `remove_tags` as ZenML's) or model card fields.
        Needs `pipelines.change_mlmodel`."""
        changes = {"name": name, "description": description, "tags": tags, **_card(card)}
        body = {key: value for key, value in changes.items() if value is not None}
        if add_tags or remove_tags:
            self._change_tags(f"models/{self.get_model(model_name_or_id).id}", add_tags, remove_tags)
        return ModelInfo.from_api(self._request("PATCH", f"models/{model_name_or_id}/", json=body), self)

    def delete_model(self, model_name_or_id: int | str) -> None:
        """Delete a model and its versions (runs and artifacts stay). Needs `pipelines.delete_mlmodel`."""
        self._request("DELETE", f"models/{model_name_or_id}/")

    def create_model_version(
        self,
        model_name_or_id: int | str,
        name: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """The model's next numbered version, named `name` (else its number).
        Needs `pipelines.add_modelversion`."""
        body = {"model": str(model_name_or_id), "name": name, "description": description or ""}
        return ModelVersion.from_api(self._request("POST", "model-versions/", json=body), self)

    def delete_model_version(self, model_version_id: int) -> None:
        """Delete a model version by id. Needs `pipelines.delete_modelversion`."""
        self._request("DELETE", f"model-versions/{model_version_id}/")

    def _list(self, path: str, model: Any, *, page: int, size: int, sort_by: str, filters: dict[str, Any]) -> Page[Any]:
        if page < 1 or not 1 <= size <= 500:
            raise ValueError("page starts at 1, and size is between 1 and 500.")
        params = {
            **translate_filters(path, filters),
            "limit": size,
            "offset": (page - 1) * size,
            "ordering": translate_sort(sort_by),
        }
        try:
            data = self._request("GET", path, params=params)
        except ServerError as exc:
            if getattr(exc, "code", None) == "unknown_parameter":
                # The server lists its parameter names; page, size and sort_by are the
                # Client's names for offset, limit and ordering.
                error = ServerError(
                    f"{exc} Filters go as keyword arguments; page, size and sort_by are sent as offset, "
                    "limit and ordering.",
                    status_code=400,
                )
                error.code = exc.code  # type: ignore[attr-defined]
                raise error from None
            raise
        return Page(
            items=[model.from_api(item, self) for item in data["results"]], page=page, size=size, total=data["count"]
        )

    def get_artifact_version(
        self,
        name_or_id: int | str | None = None,
        version: str | int | None = None,
        *,
        name_id_or_prefix: int | str | None = None,
    ) -> ArtifactVersion:
        """A ready artifact version by id, or by artifact name and version (the newest,
        by creation, when no version is given)."""
        name_or_id = _one_key("name_or_id", name_or_id, "name_id_or_prefix", name_id_or_prefix)
        if version is None and isinstance(name_or_id, int):
            return ArtifactVersion.from_api(self._request("GET", f"artifact-versions/{name_or_id}/"), self)
        params: dict[str, Any] = {"artifact": name_or_id}
        if version is not None:
            params["version"] = str(version)
        try:
            data = self._request("GET", "artifact-versions/lookup/", params=params)
        except ServerError as exc:
            if exc.status_code == 404:
                wanted = f"{name_or_id!r}" + (f" version {version!r}" if version is not None else "")
                raise KeyError(f"No artifact version {wanted}.") from None
            raise
        return ArtifactVersion.from_api(data, self)

    # --- secrets ------------------------------------------------------------------
    def get_secret(self, name_or_id: int | str | None = None, *, name_id_or_prefix: int | str | None = None) -> Secret:
        """A secret with its values, by name (a str) or id (an int).

        Inside a step, every value read is masked (`****`) in the step's logs, error
        and metadata. Reading values needs the `secrets_app.view_secret_values`
        permission (a step's run token acts as the user who started the run).
        """
        name_or_id = _one_key("name_or_id", name_or_id, "name_id_or_prefix", name_id_or_prefix)
        summary = self._find_secret(name_or_id)
        try:
            data = self._request("GET", f"secrets/{summary.id}/values/")
        except ServerError as exc:
            if exc.status_code == 404:
                raise self._secret_not_found(name_or_id) from None
            if exc.status_code == 403:
                raise ServerError(
                    f"Reading the values of secret {summary.name!r} needs the permission "
                    f"{VIEW_SECRET_VALUES_PERMISSION!r}, which your user (inside a step: the user who "
                    "started the run) does not have. An administrator grants it in the admin "
                    "(Users > the user > User permissions: 'secrets_app | secret | Can read secret values').",
                    status_code=403,
                ) from None
            raise
        secret = Secret.with_values(summary, data["values"])
        _mask_in_running_step(secret)
        return secret

    def list_secrets(
        self, *, page: int = 1, size: int = 50, sort_by: str = "name", **filters: Any
    ) -> Page[SecretSummary]:
        """Secrets without their values. Filters: name (exact)."""
        return self._list("secrets/", SecretSummary, page=page, size=size, sort_by=sort_by, filters=filters)

    def create_secret(self, name: str, values: dict[str, str], description: str | None = None) -> SecretSummary:
        """Store a new secret; the answer, like every list and write, carries no values."""
        body: dict[str, Any] = {"name": name, "values": values}
        if description is not None:
            body["description"] = description
        return SecretSummary.from_api(self._request("POST", "secrets/", json=body))

    def update_secret(
        self,
        name_or_id: int | str,
        values: dict[str, str] | None = None,
        remove_keys: list[str] | None = None,
        description: str | None = None,
    ) -> SecretSummary:
        """Add or change the given values (others are kept), remove `remove_keys`,
        set the description."""
        body: dict[str, Any] = {}
        if values is not None:
            body["values"] = values
        if remove_keys is not None:
            body["remove_keys"] = list(remove_keys)
        if description is not None:
            body["description"] = description
        secret_id = self._find_secret(name_or_id).id
        return SecretSummary.from_api(self._request("PATCH", f"secrets/{secret_id}/", json=body))

    def delete_secret(self, name_or_id: int | str) -> None:
        self._request("DELETE", f"secrets/{self._find_secret(name_or_id).id}/")

    def _find_secret(self, name_or_id: int | str) -> SecretSummary:
        if isinstance(name_or_id, int):
            try:
                return SecretSummary.from_api(self._request("GET", f"secrets/{name_or_id}/"))
            except ServerError as exc:
                if exc.status_code == 404:
                    raise self._secret_not_found(name_or_id) from None
                raise
        found = self._request("GET", "secrets/", params={"name": name_or_id, "limit": 1})["results"]
        if not found:
            raise self._secret_not_found(name_or_id)
        return SecretSummary.from_api(found[0])

    @staticmethod
    def _secret_not_found(name_or_id: int | str) -> KeyError:
        what = f"id {name_or_id}" if isinstance(name_or_id, int) else f"name {name_or_id!r}"
        return KeyError(
            f"No secret with {what}. List the secrets with Client().list_secrets() or "
            "`python manage.py secret list`; create one with Client().create_secret(name, values) "
            "or `python manage.py secret create`."
        )


def _one_key(name: str, value: Any, zenml_name: str, zenml_value: Any) -> Any:
    """The one of two spellings of a getter's argument given (ours, or ZenML's keyword)."""
    if value is not None and zenml_value is not None:
        raise TypeError(f"Give {name} or {zenml_name}, not both.")
    if value is None and zenml_value is None:
        raise TypeError(f"Missing the argument {name} (ZenML's {zenml_name}).")
    return value if value is not None else zenml_value


# pipelines.sdk.model.CARD_FIELDS (equal by a test): not imported, as Model reads
# through the Client and the two would import each other.
MODEL_CARD_FIELDS = ("license", "audience", "use_cases", "limitations", "trade_offs", "ethics")


def _card(fields: dict[str, str | None]) -> dict[str, str]:
    """The model card fields given (a TypeError for any other keyword, as a signature would)."""
    if unknown := sorted(set(fields) - set(MODEL_CARD_FIELDS)):
        raise TypeError(
            f"Unexpected keyword argument(s) {', '.join(unknown)}; model card fields are {MODEL_CARD_FIELDS}."
        )
    return {key: value for key, value in fields.items() if value is not None}


def _running_step_masker() -> SecretMasker | None:
    context = current_step_context()
    return context.secret_masker if context is not None else None


def _mask_in_running_step(secret: Secret) -> None:
    """Inside a step, hide the values just read from everything the step leaves behind."""
    masker = _running_step_masker()
    if masker is not None:
        masker.add_values(secret.secret_values.values())


def _field_errors(errors: dict[str, Any], *, limit: int = 10) -> str:
    """'a: msg; b.c: msg' from the API's `errors` (nested for nested fields and lists)."""
    found: list[str] = []

    def walk(value: Any, field: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{field}.{key}" if field else str(key))
        elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
            for index, item in enumerate(value):
                walk(item, f"{field}[{index}]")
        elif value:  # a list of messages; an empty dict or list is a valid item
            found.append(f"{field}: {' '.join(map(str, value)) if isinstance(value, list) else value}")

    walk(errors, "")
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more
