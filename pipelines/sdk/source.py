"""Turning Python objects into importable source paths and back.

Workers import steps by `module:qualname`. A step defined in a script run as
`__main__` gets the module name its file has relative to the source root, so a
worker whose import path includes that root imports the same function (the
script's `if __name__ == "__main__":` block does not run there).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.sdk.exceptions import PipelineDefinitionError

_import_lock = threading.Lock()
_module_mtimes: dict[str, float] = {}


def source_root() -> Path:
    """The folder module paths are computed from.

    `PIPELINES_SOURCE_ROOT` (first entry) if set, else the folder of the script being
    run, else the current directory.
    """
    configured = os.environ.get("PIPELINES_SOURCE_ROOT", "").split(os.pathsep)[0]
    if configured:
        return Path(configured).resolve()
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file:
        return Path(main_file).resolve().parent
    return Path.cwd().resolve()


def module_name_of(module: ModuleType) -> str:
    if module.__name__ != "__main__":
        return module.__name__
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name  # run with `python -m package.module`
    file = getattr(module, "__file__", None)
    if not file:
        raise PipelineDefinitionError(
            "Steps defined interactively (in a REPL or notebook cell) cannot be imported by "
            "a worker. Move them into a .py file under your source root."
        )
    path = Path(file).resolve()
    root = source_root()
    try:
        relative = path.with_suffix("").relative_to(root)
    except ValueError:
        raise PipelineDefinitionError(
            f"{path} is outside the source root {root}. Set PIPELINES_SOURCE_ROOT to a "
            "folder that contains it (workers need the same folder on their import path)."
        ) from None
    return ".".join(relative.parts)


def source_of(obj: Any) -> str:
    """`module:qualname` of a function or class defined at module level."""
    module = inspect.getmodule(obj)
    if module is None:
        raise PipelineDefinitionError(f"Cannot tell which module defines {obj!r}.")
    qualname = obj.__qualname__
    if "<locals>" in qualname:
        raise PipelineDefinitionError(
            f"{qualname} is defined inside a function; workers can only import objects "
            "defined at the top level of a module. Move it to module level."
        )
    return f"{module_name_of(module)}:{qualname}"


def code_hash(func: Any) -> str:
    """SHA-256 of the function's source and of the module it lives in.

    The module is part of it because helpers the step calls live there too.
    """
    digest = hashlib.sha256()
    try:
        digest.update(inspect.getsource(func).encode())
    except (OSError, TypeError):
        digest.update(func.__qualname__.encode())
    module = inspect.getmodule(func)
    module_file = getattr(module, "__file__", None)
    if module_file and os.path.exists(module_file):
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()


def add_import_roots(roots: list[str]) -> None:
    for root in roots:
        if root and os.path.isdir(root) and root not in sys.path:
            sys.path.insert(0, root)


def load_source(path: str) -> Any:
    """Import `module:qualname`, re-importing the module if its file changed.

    Long-lived workers would otherwise keep running the code they first imported
    after the user edited it.
    """
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ImportError(f"{path!r} is not a source path of the form 'module:qualname'.")
    with _import_lock:
        module = sys.modules.get(module_name)
        if module is None:
            module = importlib.import_module(module_name)
        else:
            file = getattr(module, "__file__", None)
            if file and os.path.exists(file):
                mtime = os.stat(file).st_mtime
                if _module_mtimes.get(module_name, mtime) != mtime:
                    module = importlib.reload(module)
        file = getattr(module, "__file__", None)
        if file and os.path.exists(file):
            _module_mtimes[module_name] = os.stat(file).st_mtime
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"Module {module_name!r} has no attribute {qualname!r}.") from None
    return obj
