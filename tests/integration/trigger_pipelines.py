"""Pipelines started again without their code (Client().trigger_pipeline), on a real worker."""

from __future__ import annotations

from pipelines import pipeline, step


@step
def greet(word: str, times: int) -> str:
    return " ".join([word] * times)


@step
def exclaim(text: str, suffix: str = "!") -> str:
    return text.upper() + suffix


@step
def square(value: int) -> int:
    return value * value


@step
def total(a: int = 0, b: int = 0, c: int = 0, d: int = 0) -> int:
    return a + b + c + d


@pipeline(enable_cache=False)
def trigger_words(word: str = "hi", times: int = 1, suffix: str = "!"):
    exclaim(text=greet(word=word, times=times), suffix=suffix)


@pipeline(enable_cache=False)
def trigger_loop(n: int = 1):
    squares = [square(value=index + 1, id=f"square_{index + 1}") for index in range(n)]
    total(**dict(zip("abcd", squares, strict=False)))
