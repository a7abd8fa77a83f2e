"""The one definition of what a name, a version or a source path may be.

Pipeline, step, output, artifact and model names, artifact and model version names,
and 'module:qualname' sources are checked here and nowhere else: by `ArtifactConfig`
and `Model` when a pipeline is defined, by the spec compiler (on both sides of the
wire), by the API's serializers and by the services. Copies of these rules drifted
apart (one accepted a trailing newline the others refused), so the same mistake got
a different verdict, or a different message, depending on the door it came through.

Pure Python and no Django: the server imports it, the SDK must not import Django.
Each function returns None for a good value, else the message that says how to fix
it; callers raise it as their own kind of error (PipelineDefinitionError, SpecError,
a DRF ValidationError, ...).
"""

from __future__ import annotations

import re

NAME_MAX_LENGTH = 200
VERSION_MAX_LENGTH = 100

# Always matched with fullmatch: `$` alone also accepts a trailing newline. Names are
# ASCII: `\w` or str.isdigit() would let in letters and digits such as '²' that the
# rest of the system (URLs, file names, SQL lookups by number) does not expect.
_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_.\-]{{0,{NAME_MAX_LENGTH - 1}}}")
_VERSION = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{VERSION_MAX_LENGTH - 1}}}")
_NUMBER = re.compile(r"[0-9]+")
# Where code lives, 'module:qualname': a step's function, a materializer class.
_SOURCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class InvalidName(ValueError):
    """A name or version breaks the rules below; the message says how to fix it."""


def name_problem(value: object, *, what: str = "A name") -> str | None:
    """Why `value` is not a pipeline, step, output, artifact or model name (None if it is)."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return None
    return (
        f"{what} must be 1-{NAME_MAX_LENGTH} letters, digits, '_', '-' or '.', starting with a letter "
        f"or '_'; got {value!r}."
    )


def version_problem(value: object, *, what: str = "A version") -> str | None:
    """Why `value` is not a version name; numbers are versions too (a model version)."""
    if isinstance(value, str) and _VERSION.fullmatch(value):
        return None
    return (
        f"{what} must be 1-{VERSION_MAX_LENGTH} letters, digits, '_', '-' or '.', starting with a letter "
        f"or digit; got {value!r}."
    )


def artifact_version_problem(value: object, *, what: str = "Artifact version") -> str | None:
    """Why `value` cannot be a fixed artifact version: a version name that is not a number,
    because numbers are given automatically (1, 2, ... per artifact)."""
    problem = version_problem(value, what=what)
    if problem is not None:
        return problem
    if _NUMBER.fullmatch(str(value)):
        return (
            f"{what} {value!r} is a number; numbers are given automatically. Use a name such as 'v1', "
            "or leave the version out."
        )
    return None


def source_problem(value: object, *, what: str = "A source") -> str | None:
    """Why `value` is not a source path such as 'package.module:function'."""
    if isinstance(value, str) and _SOURCE.fullmatch(value):
        return None
    return f"{what} must be 'module:qualname', got {value!r}."
