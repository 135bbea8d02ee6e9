"""Kinds: what a task does and the rules it runs under.

Kinds come from three places — built-ins (`lazyqueue.kinds`), the TOML
config (command templates, or overrides of a built-in's policies) and
Python (the `Registry.kind` decorator, or plugins in the `lazyqueue.kinds`
entry-point group).
"""

from __future__ import annotations

import re
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from .scheduling import Caps
    from typing import Any, Callable

from .errors import ConfigError, UsageError
from .models import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN
from .record import Factory, Record

# {{, }}, {name}, {name:guard}
_TOKEN_PATTERN = r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}"
GUARDS = {"path": "a value starting with '-' gets './' before it, so it is never read as an option"}
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def valid_kind_name(name: str) -> bool:
    return bool(name) and all(c in _NAME_CHARS for c in name)


def fill_template(template: str, values: dict, what: str = "template") -> str:
    """Replace {name} with values[name] as plain text (never evaluated, never shell-quoted).

    `{{` and `}}` stand for literal braces, as in Python's str.format.
    `{name:path}` puts `./` before a value that starts with `-`, so a command
    never reads it as an option.
    """

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in values or values[name] is None:
            raise UsageError(f"{what} needs {name}=… (missing value for {{{name}}})")
        value = values[name]
        value = value if isinstance(value, str) else str(value)
        if match.group(2) == "path" and value.startswith("-"):
            value = "./" + value
        return value

    return re.sub(_TOKEN_PATTERN, sub, template) if "{" in template or "}" in template else template


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in re.finditer(_TOKEN_PATTERN, template) if m.group(1)]


def template_problem(template: str, fields: "set[str] | None" = None) -> str | None:
    """What is wrong with a template, in words, or None.

    Catches a placeholder left open (`{input`; other lone braces, as in JSON,
    are literal), an unknown guard (`{x:what}`), and — given the
    kind's `fields` — a placeholder naming no field (`{inptu}`).
    """
    rest = re.sub(_TOKEN_PATTERN, "", template)
    if re.search(r"\{[A-Za-z_]", rest):  # `{input` or `{input:path`: a placeholder left open
        return f"unmatched '{{' in {template!r} (a field is {{name}}; write {{{{ for a literal brace)"
    for m in re.finditer(_TOKEN_PATTERN, template):
        name, guard = m.group(1), m.group(2)
        if name and guard is not None and guard not in GUARDS:
            return f"unknown guard {{{name}:{guard}}} in {template!r} (known: {', '.join(f'{{{name}:{g}}}' for g in GUARDS)})"
        if name and fields is not None and name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            return f"{{{name}}} is not a field of this kind (fields: {known})"
    return None


class Backoff(Record):
    """Exponential back-off: base * factor^(n-1) seconds, capped at max, ±20% jitter."""

    base: float = 5.0
    factor: float = 2.0
    max: float = 300.0
    jitter: float = 0.2

    def delay(self, failed_attempt: int, rng=None) -> float:
        """Seconds to wait after attempt `failed_attempt` failed (`rng`: a random.Random)."""
        if rng is None:
            import random as rng
        try:
            raw = min(self.max, self.base * self.factor ** max(0, failed_attempt - 1))
        except OverflowError:  # a float factor past ~1000 attempts: long since capped
            raw = self.max
        spread = raw * self.jitter
        r = rng.uniform(-spread, spread)
        return max(0.0, min(self.max, raw + r))


class Field(Record):
    """A payload field the add form asks for and validation checks."""

    name: str
    required: bool = True
    help: str = ""
    default: Any = None


class Kind(Record):
    """A kind of task. `handler(ctx)` returns the result (JSON-able) or raises."""

    name: str
    handler: Callable[..., Any] | None = None
    concurrency: int | None = None  # per-kind cap; None = only the global cap
    timeout: float | None = None
    max_attempts: int = 1
    backoff: Backoff = Factory(Backoff)
    dedupe: str | Callable[[dict], str | None] | None = None
    validate: Callable[[dict], dict] | None = None
    fields: tuple[Field, ...] = ()
    priority: int = PRIORITY_DEFAULT
    then: tuple[str, ...] = ()
    label: str | Callable[[dict], str] | None = None
    description: str = ""
    source: str = "python"
    command: tuple[str, ...] | None = None  # for config command kinds
    uses_slot: bool = True  # False: waits on remote work, not held to the global cap (track)
    env: tuple[str, ...] = ()  # environment variables a command keeps from where it was added

    @property
    def is_async(self) -> bool:
        import inspect

        return inspect.iscoroutinefunction(self.handler)

    def dedupe_key(self, payload: dict) -> str | None:
        if self.dedupe is None:
            return None
        if callable(self.dedupe):
            try:
                key = self.dedupe(payload)
            except KeyError as exc:  # a field the rule needs is missing
                raise UsageError(f"kind {self.name!r} needs {exc.args[0]}=… (for its dedupe key)") from None
            except (ValueError, TypeError) as exc:
                raise UsageError(f"kind {self.name!r}: dedupe key: {exc}") from None
            return str(key) if key else None
        return fill_template(self.dedupe, payload, f"dedupe key of kind {self.name!r}")

    def make_label(self, payload: dict) -> str:
        if callable(self.label):
            try:
                return str(self.label(payload))
            except (KeyError, ValueError, TypeError):
                pass  # the plain label below
        elif isinstance(self.label, str):
            try:
                return fill_template(self.label, payload)
            except UsageError:
                pass
        shown = ", ".join(f"{k}={v}" for k, v in payload.items() if not isinstance(v, (dict, list)))
        return f"{self.name} {shown}".strip()

    def check_payload(self, payload: dict) -> dict:
        """Required fields present, defaults filled, then the kind's own validation."""
        out = dict(payload)
        missing = []
        for f in self.fields:
            if out.get(f.name) in (None, ""):
                if f.default is not None:
                    out[f.name] = f.default
                elif f.required:
                    missing.append(f.name)
        if missing:
            wanted = " ".join(f"{m}=…" for m in missing)
            raise UsageError(f"kind {self.name!r} needs {wanted}")
        if self.validate is not None:
            try:
                result = self.validate(out)
            except KeyError as exc:
                raise UsageError(f"kind {self.name!r} needs {exc.args[0]}=…") from None
            except (ValueError, TypeError) as exc:
                raise UsageError(f"kind {self.name!r}: {exc}") from exc
            if result is not None:
                out = result
        return out

    def policy_text(self) -> str:
        parts = [f"cap {self.concurrency}" if self.concurrency else "cap -"]
        parts.append(f"attempts {self.max_attempts}")
        if self.timeout:
            parts.append(f"timeout {self.timeout:g}s")
        return ", ".join(parts)


class Registry:
    """Name → Kind."""

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}
        self.version = 0  # bumped on every change, so callers can cache what they derive
        # name -> loader registering it; imported on first use so `lazyqueue add shell`
        # does not pay for urllib or for scanning entry points
        self._lazy: dict[str, Callable[["Registry"], None]] = {}
        self._plugins_pending = False
        self.warnings: list[str] = []
        self._caps = None
        self._caps_key: tuple | None = None
        self._only_caps: tuple | None = None  # ((version, total, kinds), Caps) of the last `only` asked

    def lazy(self, names: tuple[str, ...], loader: Callable[["Registry"], None]) -> None:
        """Declare kinds whose definitions are loaded by `loader(registry)` when first needed."""
        for name in names:
            self._lazy[name] = loader

    def defer_plugins(self) -> None:
        """Load `lazyqueue.kinds` entry points only when a kind is not found otherwise."""
        self._plugins_pending = True

    def _resolve(self, name: str | None = None) -> None:
        if name is not None and name in self._kinds:
            return
        loaders = [self._lazy[name]] if name in self._lazy else ([] if name is not None else list(self._lazy.values()))
        for loader in dict.fromkeys(loaders):
            for key in [k for k, v in self._lazy.items() if v is loader]:
                del self._lazy[key]
            loader(self)
        if self._plugins_pending and (name is None or name not in self._kinds):
            self._plugins_pending = False
            self.warnings += self.load_plugins()

    def register(self, kind: Kind) -> Kind:
        if not valid_kind_name(kind.name):
            raise ConfigError(f"kind name {kind.name!r} must be letters, digits, '-', '_' or '.'")
        if not (PRIORITY_MIN <= kind.priority <= PRIORITY_MAX):
            raise ConfigError(f"kind {kind.name!r}: priority must be {PRIORITY_MIN}..{PRIORITY_MAX}")
        self._kinds[kind.name] = kind
        self.version += 1
        return kind

    def kind(self, name: str | None = None, **options: Any) -> Callable:
        """Decorator: `@registry.kind("thumbnail", concurrency=2)` over `def handler(ctx)`."""

        def wrap(fn: Callable) -> Callable:
            opts = dict(options)
            if "backoff" in opts and isinstance(opts["backoff"], dict):
                opts["backoff"] = Backoff(**opts["backoff"])
            if "fields" in opts:
                opts["fields"] = tuple(f if isinstance(f, Field) else Field(f) for f in opts["fields"])
            if "then" in opts:
                opts["then"] = tuple(opts["then"])
            self.register(Kind(name=name or fn.__name__, handler=fn, description=opts.pop("description", (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""), **opts))
            return fn

        return wrap

    def override(self, name: str, **changes: Any) -> Kind:
        self._resolve(name)
        kind = self.get(name)
        new = kind.replace(**changes)
        self._kinds[name] = new
        self.version += 1
        return new

    def get(self, name: str) -> Kind:
        self._resolve(name)
        try:
            return self._kinds[name]
        except KeyError:
            self._resolve()
            known = ", ".join(sorted(self._kinds)) or "none"
            raise UsageError(f"unknown kind {name!r} (known kinds: {known})") from None

    def __contains__(self, name: str) -> bool:
        self._resolve(name)
        return name in self._kinds

    def __iter__(self):
        self._resolve()
        return iter(sorted(self._kinds.values(), key=lambda k: k.name))

    def names(self) -> list[str]:
        self._resolve()
        return sorted(self._kinds)

    @property
    def settled(self) -> bool:
        """Every kind is loaded: no lazy kind (download, track) or plugin is left to look at."""
        return not self._lazy and not self._plugins_pending

    def find(self, name: str) -> Kind | None:
        """The kind, or None (no error)."""
        self._resolve(name)
        return self._kinds.get(name)

    def caps(self, total: int, only: "set[str] | None" = None) -> "Caps":
        """The caps in force under a global cap of `total`; rebuilt only when the kinds change (asked every pass).

        `only`: the caps of these kinds alone (the defined ones), loading no other kind's module.
        """
        if only is None and not self._lazy and not self._plugins_pending and self._caps_key == (self.version, total):
            return self._caps  # the common case, every pass: nothing changed
        from .scheduling import Caps

        def of(kinds: list) -> Caps:
            return Caps(total=total, per_kind={k.name: k.concurrency for k in kinds},
                        exempt=frozenset(k.name for k in kinds if not k.uses_slot))

        if only is not None:
            only = frozenset(only)
            hit = self._only_caps
            if hit is not None and hit[0] == (self.version, total, only):
                return hit[1]
            caps = of([k for k in map(self.find, sorted(only, key=str)) if k is not None])
            self._only_caps = ((self.version, total, only), caps)  # the version after any kind it loaded
            return caps
        if self._lazy or self._plugins_pending:
            self._resolve()  # loads lazy kinds first; may bump the version
        key = (self.version, total)
        if self._caps_key != key:
            self._caps = of(list(self._kinds.values()))
            self._caps_key = key
        return self._caps

    def load_plugins(self) -> list[str]:
        """Register kinds from the `lazyqueue.kinds` entry-point group; returns warnings."""
        from importlib.metadata import entry_points

        warnings = []
        for ep in entry_points(group="lazyqueue.kinds"):
            try:
                obj = ep.load()
                if isinstance(obj, Kind):
                    self.register(obj.replace(source=f"plugin {ep.name}"))
                elif callable(obj) and not isinstance(obj, type):
                    obj(self)
                else:
                    for kind in obj:
                        self.register(kind.replace(source=f"plugin {ep.name}"))
            except Exception as exc:  # a broken plugin must not stop the app
                warnings.append(f"plugin {ep.name!r} failed to load: {exc}")
        return warnings
