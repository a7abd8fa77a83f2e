"""Which materializer saves which type.

Types are matched along the value's MRO, most specific class first, so a materializer
registered for a subclass beats its parent's. A type is registered either as a class
or as the string `"module.QualName"`; the string form lets numpy and pandas types be
matched without importing those libraries, and their materializer modules are only
imported the first time such a value shows up.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import types
import typing
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pipelines.sdk.materializers import base
from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.pickle_materializer import PickleMaterializer

logger = logging.getLogger("pipelines.materializers")

DATACLASS_KEY = "dataclasses.dataclass"

_M = TypeVar("_M", bound=BaseMaterializer)


@dataclass(frozen=True)
class _Entry:
    # Registration order decides between a class entry and a string entry that name the
    # same type: the later registration wins, as it does for two entries of one kind.
    order: int
    # A class, or "module:Class" for a materializer not imported yet.
    materializer: type[BaseMaterializer] | str


class MaterializerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[type, _Entry] = {}
        self._by_name: dict[str, _Entry] = {}
        self._next_order = 0
        self._lock = threading.RLock()

    def copy(self) -> MaterializerRegistry:
        """An independent registry with the same entries (handy to isolate tests)."""
        with self._lock:
            clone = MaterializerRegistry()
            clone._by_type = dict(self._by_type)
            clone._by_name = dict(self._by_name)
            clone._next_order = self._next_order
            return clone

    def register(self, materializer_cls: type[_M], *, types: Iterable[type | str] | None = None) -> type[_M]:
        """Use `materializer_cls` for `types` (default: its ASSOCIATED_TYPES).

        A later registration for the same type replaces the earlier one, which is how
        users override the built-in materializers.
        """
        if not (isinstance(materializer_cls, type) and issubclass(materializer_cls, BaseMaterializer)):
            raise TypeError(f"Only subclasses of BaseMaterializer can be registered, got {materializer_cls!r}.")
        keys = tuple(materializer_cls.ASSOCIATED_TYPES if types is None else types)
        if not keys:
            raise ValueError(
                f"{materializer_cls.__qualname__} has no ASSOCIATED_TYPES; set them on the "
                "class or pass types=(...) to register()."
            )
        self._add(keys, materializer_cls)
        return materializer_cls

    def register_lazy(self, types: Iterable[str], source: str) -> None:
        """Use the materializer at `source` ("module:Class") for the named types.

        Neither the types' library nor the materializer module is imported until a
        value of one of these types is looked up.
        """
        module, _, qualname = source.partition(":")
        if not module or not qualname:
            raise ValueError(f"Materializer source {source!r} is not of the form 'module:Class'.")
        names = tuple(types)
        if not names or not all(isinstance(name, str) for name in names):
            raise ValueError(f"Lazy registration needs 'module.QualName' strings, got {names!r}.")
        self._add(names, source)

    def lookup(self, data_type: Any) -> type[BaseMaterializer] | None:
        """The registered materializer for `data_type`, or None (no fallback, no warning).

        A dataclass that nothing on its MRO is registered for gets the materializer
        registered under "dataclasses.dataclass" (dataclasses share no base class).
        """
        concrete = _concrete_class(data_type)
        for klass in concrete.__mro__:
            name = qualified_name(klass)
            with self._lock:
                found = [self._by_type.get(klass), self._by_name.get(name)]
            entries = [entry for entry in found if entry is not None]
            if entries:
                return self._resolve(name, max(entries, key=lambda entry: entry.order))
        if dataclasses.is_dataclass(concrete):
            with self._lock:
                entry = self._by_name.get(DATACLASS_KEY)
            if entry is not None:
                return self._resolve(DATACLASS_KEY, entry)
        return None

    def materializer_for(self, data_type: Any) -> type[BaseMaterializer]:
        """The materializer for `data_type`, falling back to pickle with a warning.

        `data_type` may be a class or a typing annotation (`list[int]`,
        `Optional[MyType]`); annotations that name no single class (`Any`, unions)
        count as `object`, so callers saving a value should prefer
        `materializer_for_value`.
        """
        materializer = self.lookup(data_type)
        if materializer is not None:
            return materializer
        _warn_pickle_fallback(_concrete_class(data_type))
        return PickleMaterializer

    def materializer_for_value(self, value: Any) -> type[BaseMaterializer]:
        return self.materializer_for(type(value))

    def _add(self, keys: tuple[type | str, ...], materializer: type[BaseMaterializer] | str) -> None:
        for key in keys:  # all checked first so a bad key registers nothing
            _check_key(key)
        with self._lock:
            for key in keys:
                entry = _Entry(self._next_order, materializer)
                self._next_order += 1
                if isinstance(key, str):
                    self._by_name[key] = entry
                else:
                    self._by_type[key] = entry

    def _resolve(self, name: str, entry: _Entry) -> type[BaseMaterializer]:
        if not isinstance(entry.materializer, str):
            return entry.materializer
        materializer = _import_materializer(entry.materializer)
        with self._lock:
            # Only cache if nobody re-registered the name while we were importing.
            if self._by_name.get(name) is entry:
                self._by_name[name] = _Entry(entry.order, materializer)
        return materializer


def qualified_name(cls: type) -> str:
    """The `"module.QualName"` string that lazy registrations are keyed by."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_key(key: object) -> None:
    if isinstance(key, str):
        if "." not in key or ":" in key:
            raise ValueError(
                f"Type name {key!r} must be the qualified 'module.QualName' of a class, e.g. 'numpy.ndarray'."
            )
    elif not isinstance(key, type):
        raise TypeError(f"Cannot register a materializer for {key!r}: not a class or a str.")


def _concrete_class(annotation: Any) -> type:
    if annotation is Any:
        return object  # Any is a class since Python 3.11, but it names no data type
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _concrete_class(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _concrete_class(members[0]) if len(members) == 1 else object
    if origin is not None:
        # list[int] -> list; Literal[...], Callable[...] and friends name no one class.
        return origin if isinstance(origin, type) else object
    supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _concrete_class(supertype)
    if annotation is None:
        return type(None)
    return annotation if isinstance(annotation, type) else object


def _import_materializer(source: str) -> type[BaseMaterializer]:
    module_name, _, qualname = source.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, BaseMaterializer)):
        raise TypeError(f"{source!r} is registered as a materializer but is not one: {obj!r}.")
    return obj


def _warn_pickle_fallback(cls: type) -> None:
    name = cls.__qualname__ if cls.__module__ == "builtins" else qualified_name(cls)
    message = (
        f"No materializer is registered for type {name}; falling back to PickleMaterializer. "
        "Pickled artifacts can only be read by code with the same class definitions and "
        "Python version. Register a materializer with register_materializer(MyMaterializer) "
        f"(listing {name} in its ASSOCIATED_TYPES) or choose one per step with "
        "@step(output_materializers=MyMaterializer)."
    )
    warnings.warn(message, UserWarning, stacklevel=3)
    logger.warning(message)


materializer_registry = MaterializerRegistry()


def register_materializer(materializer_cls: type[_M], *, types: Iterable[type | str] | None = None) -> type[_M]:
    """Register in the global registry; usable as a class decorator."""
    return materializer_registry.register(materializer_cls, types=types)


# Defining a materializer registers it in whatever `materializer_registry` is at that
# moment (looked up at call time, so a test can swap in a copy).
base.install_registration(lambda cls: register_materializer(cls))
