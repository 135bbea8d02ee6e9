"""Small value classes without the dataclasses module.

`dataclasses` pulls in `inspect` (and with it `ast`, `dis`, `tokenize`):
about 15 ms of every `lazyqueue add`. These classes need only keyword (or
positional) construction with defaults, a repr, equality and `replace`.
"""

from __future__ import annotations

REQUIRED = object()


class Factory:
    """A default made fresh for each instance (like dataclasses' default_factory)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


class Record:
    """Declare fields as annotated class attributes, as with a dataclass:

        class Caps(Record):
            total: int
            per_kind: dict = Factory(dict)

    A field without a value is required; `Factory(fn)` makes a fresh default.
    """

    __slots__ = ()
    _defaults: dict = {}
    _names: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        defaults = dict(getattr(cls, "_defaults", {}))
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith("ClassVar"):
                continue
            defaults[name] = cls.__dict__.get(name, REQUIRED)
        cls._defaults = defaults
        cls._names = tuple(defaults)
        if "__init__" not in cls.__dict__:
            # its first instance compiles its own __init__ (plain parameters: ~4x faster than
            # the loop below; a worker makes several records per task)
            cls.__init__ = _first_init

    def __init__(self, *args, **kwargs):
        names = self._names
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} got two values for {name!r}")
            kwargs[name] = value
        setter = object.__setattr__
        defaults = self._defaults
        for name in names:
            if name in kwargs:
                value = kwargs.pop(name)
            else:
                value = defaults[name]
                if value is REQUIRED:
                    raise TypeError(f"{type(self).__name__} needs {name!r}")
                if type(value) is Factory:
                    value = value.make()
            setter(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected field(s): {', '.join(kwargs)}")

    def replace(self, **changes):
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name in self._names}
        values.update(changes)
        return type(self)(**values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._names)

    __hash__ = None


def _first_init(self, *args, **kwargs):
    cls = type(self)
    cls.__init__ = _compiled_init(cls)
    cls.__init__(self, *args, **kwargs)


def _compiled_init(cls):
    """`def __init__(self, a=<default>, ...)` for `cls`'s fields (a required one checked), defaults as globals."""
    params, body = [], []
    scope = {"_setattr": object.__setattr__, "_REQUIRED": REQUIRED}
    for i, (name, default) in enumerate(cls._defaults.items()):
        if default is REQUIRED:
            params.append(f"{name}=_REQUIRED")
            scope[f"_need{i}"] = f"{cls.__name__} needs {name!r}"
            body.append(f"    if {name} is _REQUIRED: raise TypeError(_need{i})")
        elif type(default) is Factory:
            scope[f"_unset{i}"], scope[f"_make{i}"] = default, default.make
            params.append(f"{name}=_unset{i}")
            body.append(f"    if {name} is _unset{i}: {name} = _make{i}()")
        else:
            scope[f"_d{i}"] = default
            params.append(f"{name}=_d{i}")
        body.append(f"    _setattr(self, {name!r}, {name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, scope)  # noqa: S102 - the source is built from the class's own field names
    return scope["__init__"]
