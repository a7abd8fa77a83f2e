"""Pipelines with parameters, for the tests of runs started without the code."""

from __future__ import annotations

from pipelines import pipeline, step
from pipelines.sdk.pipeline_context import get_pipeline_context


@step
def make_text(word: str, times: int) -> str:
    return " ".join([word] * times)


@step
def shout(text: str, suffix: str = "!") -> str:
    return text.upper() + suffix


@step
def number(value: int) -> int:
    return value


@pipeline(enable_cache=False)
def words_pipeline(word: str = "hi", times: int = 2, suffix: str = "!", ratio: float | None = None):
    text = make_text(word=word, times=times)
    shout(text=text, suffix=suffix)


@pipeline
def loop_pipeline(n: int = 2):
    for index in range(n):
        number(value=index, id=f"number_{index}")


@pipeline
def branch_pipeline(mode: str = "a"):
    if mode == "a":
        number(value=1)
    else:
        shout(text="b")


@pipeline
def derived_pipeline(word: str = "hi"):
    make_text(word="-".join([word, word]), times=1)


@pipeline
def nested_pipeline(word: str = "hi"):
    make_text(word=word, times=1, id="first")
    number(value=3)


@pipeline
def required_pipeline(count: int, tags: list | None = None, config: dict = {}):
    number(value=count)


@pipeline
def context_pipeline(word: str = "hi"):
    make_text(word=word, times=len(get_pipeline_context().name))


@step(enable_cache=False)
def fresh(value: int) -> int:
    return value


@pipeline
def mixed_cache_pipeline(n: int = 1):
    number(value=n)
    fresh(value=n)


@pipeline
def optional_pipeline(limit: int | None = None):
    if limit is not None:
        number(value=limit)
    shout(text="x")


@pipeline
def typed_pipeline(value: int | str = 1):
    if isinstance(value, int):
        number(value=value)
    else:
        shout(text=value)
