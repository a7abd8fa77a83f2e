"""The Client passes ZenML's string operators on names through to the API, which applies them."""

from __future__ import annotations

import pytest

from pipelines.sdk.filter_syntax import translate_filters


@pytest.mark.parametrize("path", ["runs/", "steps/", "artifacts/", "models/"])
@pytest.mark.parametrize("value", ["startswith:train", "endswith:_a", "contains:x", "equals:a", 'oneof:["a","b"]'])
def test_names_pass_through_with_their_operator(path, value):
    assert translate_filters(path, {"name": value}) == {"name": value}


def test_artifact_version_names_pass_through_and_other_fields_take_equals_only():
    assert translate_filters("artifact-versions/", {"version": "startswith:v"}) == {"version": "startswith:v"}
    assert translate_filters("runs/", {"status": "equals:completed"}) == {"status": "completed"}
    with pytest.raises(ValueError, match="status takes the operators equals"):
        translate_filters("runs/", {"status": "startswith:comp"})
    with pytest.raises(ValueError, match="name takes the operators equals, notequals, contains, startswith"):
        translate_filters("models/", {"name": "gte:a"})
