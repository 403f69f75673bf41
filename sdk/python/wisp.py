"""Wisp's Python SDK: typed parameters, logging and errors for python:3 actions.

One file, standard library only. Wisp's python:3 runtime has it on the path
(``import wisp`` just works); an action may also ship its own copy in its
zip, which then wins.

    from dataclasses import dataclass
    import wisp

    @dataclass
    class Params:
        name: str
        times: int = 1

    @wisp.action
    def main(params: Params) -> dict:
        wisp.log.info("greeting %s", params.name)
        if params.times < 1:
            raise wisp.ActionError("times must be at least 1")
        return {"greeting": ("Hello " + params.name + "! ") * params.times}

``@wisp.action`` decodes the action's parameters (a dict) into the type of
the function's first parameter -- a dataclass or a TypedDict -- and answers
``{"error": "..."}`` naming the field when one is missing or of the wrong
type. Parameters the type does not declare are ignored (OpenWhisk adds its
own, such as ``__ow_method`` for web actions).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import functools
import inspect
import logging
import os
import sys
import types
import typing

__all__ = [
    "ActionError",
    "Activation",
    "ParamsError",
    "action",
    "activation",
    "decode",
    "log",
]

__version__ = "0.1.0"


class ActionError(Exception):
    """An error that is the action's answer: the result ``{"error": message}``
    (plus any extra fields given), an *application error* in OpenWhisk's
    terms (HTTP 502 for a blocking invoke, status code 1 in the record).

    Raise it from an action; Wisp's launcher turns it into the result even
    without ``@wisp.action``. Any other exception is a crash: its traceback
    goes to the logs and the result says ``{"error": "<Type>: <message>"}``.
    """

    def __init__(self, message: str, **fields: typing.Any):
        super().__init__(message)
        self.message = message
        self.fields = fields

    def wisp_result(self) -> dict:
        """The result this error stands for (the launcher calls it)."""
        return {"error": self.message, **self.fields}


class ParamsError(ActionError):
    """Parameters that do not fit the action's parameter type. ``path`` is
    where, e.g. ``"items[2].name"``."""

    def __init__(self, path: str, problem: str):
        where = "parameter %r" % path if path else "the parameters"
        super().__init__("%s %s" % (where, problem))
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------- logging

class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a record is
    emitted (the launcher wraps it after the SDK may have been imported)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _make_logger() -> logging.Logger:
    lg = logging.getLogger("wisp.action")
    if not lg.handlers:
        h = _StderrHandler()
        # Wisp stamps every log line with its time and stream: no time here.
        h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    return lg


log: logging.Logger = _make_logger()
"""The action's logger: ``wisp.log.info("x=%s", x)`` writes ``INFO x=...``
to stderr, a log line of the activation. ``print`` works too."""


# ------------------------------------------------------------- activation

@dataclasses.dataclass(frozen=True)
class Activation:
    """The activation an action serves, from Wisp's ``__OW_*`` variables."""

    id: str
    namespace: str
    action_name: str
    action_version: str
    api_host: str
    api_key: str
    deadline: typing.Optional[_dt.datetime]

    def remaining(self) -> typing.Optional[float]:
        """Seconds left before the action's time limit, or None if unknown."""
        if self.deadline is None:
            return None
        return (self.deadline - _dt.datetime.now(_dt.timezone.utc)).total_seconds()


def activation() -> Activation:
    """The current activation, read from the environment (Wisp sets it
    before every call of main)."""
    deadline = None
    raw = os.environ.get("__OW_DEADLINE", "")
    if raw.isdigit():
        deadline = _dt.datetime.fromtimestamp(int(raw) / 1000, _dt.timezone.utc)
    return Activation(
        id=os.environ.get("__OW_ACTIVATION_ID", ""),
        namespace=os.environ.get("__OW_NAMESPACE", ""),
        action_name=os.environ.get("__OW_ACTION_NAME", ""),
        action_version=os.environ.get("__OW_ACTION_VERSION", ""),
        api_host=os.environ.get("__OW_API_HOST", ""),
        api_key=os.environ.get("__OW_API_KEY", ""),
        deadline=deadline,
    )


# --------------------------------------------------------------- decoding

_MISSING = object()


def _type_name(t: typing.Any) -> str:
    if isinstance(t, type):
        return t.__name__
    return str(t).replace("typing.", "")


def _json_name(v: typing.Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _show(v: typing.Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:40] + "..."


def _is_typeddict(t: typing.Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__total__")


def _join(path: str, key: typing.Any) -> str:
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    return "%s.%s" % (path, key) if path else str(key)


def decode(t: typing.Any, value: typing.Any, path: str = "") -> typing.Any:
    """Decodes a JSON value (as json.loads makes it) into type ``t``.

    ``t`` may be a dataclass, a TypedDict, ``str``, ``int``, ``float``,
    ``bool``, ``list[T]``, ``dict[str, T]``, ``Optional[T]``/``T | None``,
    other unions, ``Literal[...]``, an ``Enum``, or ``Any``. Raises
    ParamsError naming the first field that does not fit.
    """
    origin = typing.get_origin(t)
    args = typing.get_args(t)

    if t is typing.Any or t is object:
        return value
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        if value is None and type(None) in args:
            return None
        alts = [a for a in args if a is not type(None)]
        if len(alts) == 1:  # Optional[T]: T's own error says where
            return decode(alts[0], value, path)
        for a in alts:
            try:
                return decode(a, value, path)
            except ParamsError:
                pass
        raise ParamsError(path, "must be %s, not %s %s" % (" or ".join(_type_name(a) for a in args), _json_name(value), _show(value)))
    if origin is typing.Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise ParamsError(path, "must be one of %s, not %s" % (", ".join(repr(a) for a in args), _show(value)))
    if origin in (list, typing.List, tuple, set, frozenset) or t in (list, tuple, set, frozenset):
        if not isinstance(value, list):
            raise ParamsError(path, "must be an array, not %s %s" % (_json_name(value), _show(value)))
        container = origin or t
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ParamsError(path, "must be an array of %d items, not %d" % (len(args), len(value)))
            return tuple(decode(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else typing.Any
        items = [decode(item, v, _join(path, i)) for i, v in enumerate(value)]
        return items if container in (list, typing.List) else container(items)
    if origin in (dict, typing.Dict) or t is dict:
        if not isinstance(value, dict):
            raise ParamsError(path, "must be an object, not %s %s" % (_json_name(value), _show(value)))
        vt = args[1] if len(args) == 2 else typing.Any
        return {k: decode(vt, v, _join(path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(t) and isinstance(t, type):
        return _decode_dataclass(t, value, path)
    if _is_typeddict(t):
        return _decode_typeddict(t, value, path)
    if isinstance(t, type) and issubclass(t, enum.Enum):
        try:
            return t(value)
        except ValueError:
            raise ParamsError(path, "must be one of %s, not %s" % (", ".join(repr(m.value) for m in t), _show(value))) from None
    if t is bool:
        if isinstance(value, bool):
            return value
        raise ParamsError(path, "must be a boolean, not %s %s" % (_json_name(value), _show(value)))
    if t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParamsError(path, "must be an integer, not %s %s" % (_json_name(value), _show(value)))
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ParamsError(path, "must be a number, not %s %s" % (_json_name(value), _show(value)))
    if t is str:
        if isinstance(value, str):
            return value
        raise ParamsError(path, "must be a string, not %s %s" % (_json_name(value), _show(value)))
    if t is type(None):
        if value is None:
            return None
        raise ParamsError(path, "must be null, not %s" % _show(value))
    raise TypeError("wisp.decode cannot decode into %s (at %r)" % (_type_name(t), path or "the parameters"))


def _hints(t: type) -> dict:
    try:
        return typing.get_type_hints(t)
    except Exception as e:
        raise TypeError("wisp: the annotations of %s cannot be resolved: %s" % (t.__name__, e)) from e


def _decode_dataclass(t: type, value: typing.Any, path: str) -> typing.Any:
    if not isinstance(value, dict):
        raise ParamsError(path, "must be an object, not %s %s" % (_json_name(value), _show(value)))
    hints = _hints(t)
    kwargs = {}
    for f in dataclasses.fields(t):
        if not f.init:
            continue
        raw = value.get(f.name, _MISSING)
        if raw is _MISSING:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParamsError(_join(path, f.name), "is missing (%s)" % _type_name(hints.get(f.name, typing.Any)))
            continue
        kwargs[f.name] = decode(hints.get(f.name, typing.Any), raw, _join(path, f.name))
    return t(**kwargs)


def _decode_typeddict(t: type, value: typing.Any, path: str) -> typing.Any:
    if not isinstance(value, dict):
        raise ParamsError(path, "must be an object, not %s %s" % (_json_name(value), _show(value)))
    hints = _hints(t)
    required = getattr(t, "__required_keys__", frozenset(hints) if t.__total__ else frozenset())
    out = {}
    for k, ft in hints.items():
        if k not in value:
            if k in required:
                raise ParamsError(_join(path, k), "is missing (%s)" % _type_name(ft))
            continue
        out[k] = decode(ft, value[k], _join(path, k))
    return out


# ----------------------------------------------------------------- action

def _to_result(r: typing.Any, name: str) -> dict:
    if dataclasses.is_dataclass(r) and not isinstance(r, type):
        return dataclasses.asdict(r)
    if isinstance(r, dict):
        return r
    raise TypeError("%s returned %s, not a dict or a dataclass: an action's result must be a JSON object"
                    % (name, "None" if r is None else type(r).__name__))


def action(fn=None, *, params: typing.Any = None):
    """Makes an OpenWhisk ``main`` out of a typed function.

    The returned function takes the parameters dict, decodes it into the
    type of ``fn``'s first parameter (or ``params=`` when given; a plain
    ``dict`` or no annotation passes it as is), calls ``fn`` and returns its
    result, a dict or a dataclass (turned into a dict). Parameters that do
    not fit are answered with ``{"error": "parameter 'x' must be ..."}``
    without calling ``fn``; an ActionError raised by ``fn`` becomes its
    result. Use it bare (``@wisp.action``) or with ``params=``. An
    ``async def`` function makes an async main, which Wisp's launcher
    awaits.
    """

    def wrap(f):
        t = params
        if t is None:
            sig = inspect.signature(f)
            ps = list(sig.parameters.values())
            if ps:
                ann = ps[0].annotation
                if isinstance(ann, str):
                    ann = typing.get_type_hints(f).get(ps[0].name, typing.Any)
                t = typing.Any if ann is inspect.Parameter.empty else ann
            else:
                t = None  # fn takes no parameters

        def call(args):
            if args is None:
                args = {}
            if t is None:
                return f()
            return f(decode(t, args) if t not in (dict, typing.Any) else args)

        if inspect.iscoroutinefunction(f):
            # async def: main is a coroutine function too; Wisp's launcher
            # runs it to its end.
            @functools.wraps(f)
            async def main(args: typing.Any = None) -> dict:
                try:
                    r = await call(args)
                except ActionError as e:
                    return e.wisp_result()
                return _to_result(r, f.__name__)
        else:
            @functools.wraps(f)
            def main(args: typing.Any = None) -> dict:
                try:
                    r = call(args)
                except ActionError as e:
                    return e.wisp_result()
                return _to_result(r, f.__name__)

        main.__wisp_params__ = t  # type: ignore[attr-defined]
        return main

    if fn is None:
        return wrap
    return wrap(fn)
