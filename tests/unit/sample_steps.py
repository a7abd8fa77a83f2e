"""Steps and pipelines the SDK unit tests compile.

They live at module level in an importable module because a step's source path is
`module:qualname`, which refuses functions defined inside other functions.
"""

from __future__ import annotations

from typing import Annotated, Any

from pipelines import pipeline, step
from pipelines.sdk.materializers import PickleMaterializer


# --- the example -------------------------------------------------------
@step
def load() -> Annotated[list[int], "numbers"]:
    return [1, 2, 3]


@step
def total(numbers: list[int], scale: int = 1) -> int:
    return sum(numbers) * scale


@pipeline
def numbers_pipeline(scale: int = 2):
    total(load(), scale=scale)


# --- shapes of steps -----------------------------------------------------------
@step
def split() -> tuple[Annotated[int, "count"], Annotated[str, "label"]]:
    return 1, "one"


@step
def consume_int(value: int) -> None:
    pass


@step
def consume_str(text: str) -> None:
    pass


@step
def side_effect() -> None:
    pass


@step
def untyped(value=None):
    return value


@step
def takes_id(id: int) -> int:
    return id


@step()
def with_empty_parens() -> int:
    return 1


@step(name="renamed_step")
def with_a_name() -> int:
    return 1


@step(enable_cache=False)
def uncached() -> int:
    return 1


@step(enable_cache=True)
def cached() -> int:
    return 1


@step(output_materializers=PickleMaterializer)
def pickled_pair() -> tuple[Annotated[int, "a"], Annotated[str, "b"]]:
    return 1, "b"


@step(output_materializers={"b": PickleMaterializer})
def pickled_b() -> tuple[Annotated[int, "a"], Annotated[str, "b"]]:
    return 1, "b"


class Opaque:
    """A type no materializer is registered for."""


@step
def make_opaque() -> Opaque:
    return Opaque()


@step
def anything() -> Any:
    return 1
