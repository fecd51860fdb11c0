"""How a class's constructor is read: which parameters are dependencies, and of what type.

`injector` decides for constructors that use its vocabulary (`@inject`, `Inject[...]`,
`NoInject[...]`); a constructor with none of it is read from its type hints, so a plain
`def __init__(self, repository: Repository)` is injected too. Reading happens once per class,
when its plan is compiled, never per resolution.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pdip.dependency.errors import MissingBindingError

_PRIMITIVES = frozenset(
    {str, int, float, bool, bytes, bytearray, complex, list, dict, set, frozenset, tuple, type, object}
)


@dataclass(frozen=True)
class Parameter:
    name: str
    dependency: Any
    has_default: bool
    position: int | None  # index in the signature when it can be passed by position


def type_name(key: Any) -> str:
    """A type as the user wrote it: `Repository[Report]`, `ReportService`, `str | None`."""
    if key is type(None):
        return "None"
    if key is Ellipsis:
        return "..."
    if isinstance(key, type) and not get_args(key):
        return key.__qualname__
    origin = get_origin(key)
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in get_args(key))
        if origin in (Union, types.UnionType):
            return " | ".join(type_name(arg) for arg in get_args(key))
        return f"{type_name(origin)}[{args}]"
    return getattr(key, "__qualname__", None) or repr(key)


def is_primitive(key: Any) -> bool:
    """Values such as `str` or `list[int]` are configuration, never something to construct."""
    origin = get_origin(key) or key
    if origin in (Union, types.UnionType):
        return all(is_primitive(arg) or arg is type(None) for arg in get_args(key))
    return origin in _PRIMITIVES


def is_abstract(cls: Any) -> bool:
    return isinstance(cls, type) and (inspect.isabstract(cls) or getattr(cls, "_is_protocol", False))


def _unwrap(hint: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` both mean: inject an X."""
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    if get_origin(hint) in (Union, types.UnionType):
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return hint


def constructor_parameters(cls: type) -> list[Parameter]:
    """The dependencies `cls.__init__` asks for, in declaration order."""
    init = cls.__init__
    if init is object.__init__:
        return []
    try:
        signature = inspect.signature(init)
        explicit = _injector_bindings(init)
        uses_injector = hasattr(init, "__bindings__") or bool(explicit)
        hints = {} if uses_injector else typing.get_type_hints(init, include_extras=True)
    except (NameError, TypeError, ValueError) as error:
        raise MissingBindingError([cls.__qualname__], f"cannot read the constructor's type hints ({error})") from error

    parameters = []
    for position, (name, parameter) in enumerate(list(signature.parameters.items())[1:]):
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        has_default = parameter.default is not inspect.Parameter.empty
        hint = explicit.get(name) if uses_injector else hints.get(name)
        if hint is None:
            if has_default:
                continue
            if uses_injector:
                reason = f"constructor parameter '{name}' is not injected and has no default"
            else:
                reason = (
                    f"constructor parameter '{name}' has no type hint, so nothing can be injected; "
                    "annotate it or give it a default"
                )
            raise MissingBindingError([cls.__qualname__], reason)
        positional = parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        parameters.append(Parameter(name, _unwrap(hint), has_default, position if positional else None))
    return parameters


def _injector_bindings(init: Any) -> dict:
    """What injector's markers (`@inject`, `Inject[...]`) ask for; nothing if injector is not loaded,
    since then no class can carry its markers (and start-up need not import it)."""
    injector = sys.modules.get("injector")
    return injector.get_bindings(init) if injector is not None else {}
