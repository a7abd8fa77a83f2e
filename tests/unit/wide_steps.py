"""A pipeline with several steps ready at once (imported by path by the tests)."""

from __future__ import annotations

from pipelines import pipeline, step


@step
def root(i: int) -> int:
    return i


@step
def join(a: int, b: int, c: int) -> int:
    return a + b + c


@pipeline
def three_roots():
    join(root(1, id="root_1"), root(2, id="root_2"), root(3, id="root_3"))
