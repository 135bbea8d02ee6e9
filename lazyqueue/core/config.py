"""The TOML config file: worker caps, retention, and kinds.

Every problem becomes a ConfigError naming the file, the key and what is
wrong, e.g. `config.toml: kinds.encode.concurrency: must be a whole number ≥ 1 (got 0)`.
"""

from __future__ import annotations

from pathlib import Path
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any

from .errors import ConfigError
from .models import RetentionPolicy
from .record import Factory, Record
from .registry import Backoff, Field, Kind, Registry, placeholders, template_problem, valid_kind_name

DEFAULT_CONCURRENCY = 2
DEFAULT_GRACE_S = 10.0
DEFAULT_IDLE_EXIT_S = 300.0


class Config(Record):
    path: Path | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    grace_s: float = DEFAULT_GRACE_S
    autostart: bool = True  # commands that leave work behind start a background worker
    idle_exit_s: float = DEFAULT_IDLE_EXIT_S  # a background worker exits after this long with nothing to run
    retention: RetentionPolicy = Factory(RetentionPolicy)
    kinds: dict[str, dict] = Factory(dict)  # validated [kinds.*] tables
    backend_url: str | None = None  # [backend] url: postgresql://… chooses the cluster engine
    lease_s: float | None = None  # [backend] lease: seconds before a silent cluster worker's tasks are taken back
    per_host: dict[str, int] = Factory(dict)  # [kinds.NAME] per_host (cluster engine)
    serve: dict = Factory(dict)  # [serve]: allow_remote (bool), cors_origins (list of origins)
    warnings: list[str] = Factory(list)  # told to the user, not fatal


KIND_KEYS = {
    "command", "concurrency", "dedupe", "max_attempts", "backoff", "timeout", "then",
    "priority", "label", "description", "cwd", "per_host", "env", "fields",
}


def valid_env_name(name: str) -> bool:
    """A name a shell can export: letters, digits and _, not starting with a digit."""
    return bool(name) and not name[0].isdigit() and all(c.isalnum() and c.isascii() or c == "_" for c in name)


class _Checker:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def int_at_least(self, table: dict, name: str, key: str, low: int) -> int | None:
        if name not in table:
            return None
        value = table[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise self.fail(key, f"must be a whole number ≥ {low} (got {value!r})")
        return value

    def number(self, table: dict, name: str, key: str, low: float = 0.0) -> float | None:
        if name not in table:
            return None
        value = table[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= low or value == float("inf"):
            raise self.fail(key, f"must be a number ≥ {low:g} (got {value!r})")
        return float(value)

    def unknown(self, table: dict, allowed: set, prefix: str) -> None:
        for name in table:
            if name not in allowed:
                choices = ", ".join(sorted(allowed))
                raise self.fail(f"{prefix}{name}", f"unknown key (expected one of: {choices})")


def load_config(path: Path | None, required: bool | str = False, cache_dir: Path | None = None) -> Config:
    """Read and validate the config; a missing default file is an empty config.

    `required`: True (named by --config) makes a missing file an error; "env"
    (named by $LAZYQUEUE_CONFIG) makes it a warning.
    With `cache_dir` (the state directory), a parsed copy kept there spares the
    TOML parser while the file is unchanged (see config_cache).
    """
    if path is None or not path.exists():
        if required == "env":
            return Config(path=None, warnings=[f"{path}: config file not found (named by LAZYQUEUE_CONFIG); using the defaults"])
        if required and path is not None:
            raise ConfigError(f"{path}: config file not found")
        return Config(path=None)
    try:
        if path.is_file() and path.stat().st_size == 0:
            return Config(path=path)  # nothing to read: spare the TOML parser's import
    except OSError:
        pass
    from . import config_cache

    data, key = config_cache.cached(path, cache_dir)
    if data is not None:
        return parse_config(data, path)
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    config = parse_config(data, path)
    if cache_dir is not None:
        config_cache.store(cache_dir, key, data)  # only a config that loads is kept
    return config


def parse_config(data: dict, path: Path) -> Config:
    check = _Checker(path)
    config = Config(path=path)
    check.unknown(data, {"worker", "retention", "kinds", "backend", "serve"}, "")
    backend = data.get("backend", {})
    if not isinstance(backend, dict):
        raise check.fail("backend", "must be a table")
    check.unknown(backend, {"url", "lease"}, "backend.")
    if "url" in backend:
        if not isinstance(backend["url"], str):
            raise check.fail("backend.url", f"must be a string (got {backend['url']!r})")
        config.backend_url = backend["url"] or None
    config.lease_s = check.number(backend, "lease", "backend.lease", 0.5)
    config.serve = _serve_table(check, data.get("serve", {}))
    worker = data.get("worker", {})
    if not isinstance(worker, dict):
        raise check.fail("worker", "must be a table")
    check.unknown(worker, {"concurrency", "grace", "autostart", "idle_exit"}, "worker.")
    config.concurrency = check.int_at_least(worker, "concurrency", "worker.concurrency", 1) or DEFAULT_CONCURRENCY
    grace = check.number(worker, "grace", "worker.grace")
    if grace is not None:
        config.grace_s = grace
    if "autostart" in worker:
        if not isinstance(worker["autostart"], bool):
            raise check.fail("worker.autostart", f"must be true or false (got {worker['autostart']!r})")
        config.autostart = worker["autostart"]
    idle_exit = check.number(worker, "idle_exit", "worker.idle_exit")
    if idle_exit is not None:
        config.idle_exit_s = idle_exit
    retention = data.get("retention", {})
    if not isinstance(retention, dict):
        raise check.fail("retention", "must be a table")
    check.unknown(retention, {"keep", "max_age_days", "keep_logs", "archive_max_mb"}, "retention.")
    keep = check.int_at_least(retention, "keep", "retention.keep", 0)
    age = check.number(retention, "max_age_days", "retention.max_age_days")
    archive_mb = check.number(retention, "archive_max_mb", "retention.archive_max_mb")
    keep_logs = retention.get("keep_logs", False)
    if not isinstance(keep_logs, bool):
        raise check.fail("retention.keep_logs", f"must be true or false (got {keep_logs!r})")
    defaults = RetentionPolicy()
    config.retention = RetentionPolicy(
        keep=keep if keep is not None else defaults.keep,
        max_age_days=age if age is not None else defaults.max_age_days,
        keep_logs=keep_logs,
        archive_max_mb=archive_mb if archive_mb is not None else defaults.archive_max_mb,
    )
    kinds = data.get("kinds", {})
    if not isinstance(kinds, dict):
        raise check.fail("kinds", "must be a table of [kinds.NAME] tables")
    for name, table in kinds.items():
        prefix = f"kinds.{name}."
        if not isinstance(table, dict):
            raise check.fail(f"kinds.{name}", "must be a table")
        if not valid_kind_name(name):
            raise check.fail(f"kinds.{name}", "a kind name must be letters, digits, '-', '_' or '.'")
        check.unknown(table, KIND_KEYS, prefix)
        spec: dict[str, Any] = {}
        if "command" in table:
            cmd = table["command"]
            if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
                raise check.fail(prefix + "command", 'must be a non-empty list of strings, e.g. ["ffmpeg", "-i", "{input}"]')
            spec["command"] = tuple(cmd)
        per_host = check.int_at_least(table, "per_host", prefix + "per_host", 1)
        if per_host is not None:
            config.per_host[name] = per_host
        for key in ("concurrency", "max_attempts"):
            value = check.int_at_least(table, key, prefix + key, 1)
            if value is not None:
                spec[key] = value
        priority = check.int_at_least(table, "priority", prefix + "priority", 1)
        if priority is not None:
            if priority > 10:
                raise check.fail(prefix + "priority", f"must be 1..10 (got {priority})")
            spec["priority"] = priority
        timeout = check.number(table, "timeout", prefix + "timeout")
        if timeout is not None:
            spec["timeout"] = timeout or None
        for key in ("dedupe", "label", "description", "cwd"):
            if key in table:
                if not isinstance(table[key], str):
                    raise check.fail(prefix + key, f"must be a string (got {table[key]!r})")
                spec[key] = table[key]
        if "then" in table:
            then = table["then"]
            if isinstance(then, str):
                then = [then]
            if not isinstance(then, list) or not all(isinstance(t, str) for t in then):
                raise check.fail(prefix + "then", "must be a list of kind names")
            spec["then"] = tuple(then)
        if "fields" in table:
            extra = table["fields"]
            if "command" not in table:
                raise check.fail(prefix + "fields", "only a command kind (command = [...]) takes fields")
            if not isinstance(extra, list) or not all(isinstance(n, str) and valid_env_name(n) for n in extra):
                raise check.fail(prefix + "fields", f'must be a list of field names, e.g. ["note"] (got {extra!r})')
            spec["fields"] = tuple(extra)
        if "env" in table:
            env = table["env"]
            if not isinstance(env, list) or not all(isinstance(n, str) and valid_env_name(n) for n in env):
                raise check.fail(prefix + "env", f'must be a list of variable names, e.g. ["AWS_PROFILE", "LANG"] (got {env!r})')
            spec["env"] = tuple(env)
        if "backoff" in table:
            b = table["backoff"]
            if not isinstance(b, dict):
                raise check.fail(prefix + "backoff", "must be a table like { base = 5, factor = 2, max = 300 }")
            check.unknown(b, {"base", "factor", "max", "jitter"}, prefix + "backoff.")
            values = {}
            for key in ("base", "factor", "max", "jitter"):
                v = check.number(b, key, prefix + "backoff." + key)
                if key == "jitter" and v is not None and v > 1:
                    raise check.fail(prefix + "backoff.jitter", f"must be a fraction from 0 to 1, e.g. 0.2 for ±20% (got {v:g})")
                if v is not None:
                    values[key] = v
            spec["backoff"] = Backoff(**values)
        config.kinds[name] = spec
    return config


def _serve_table(check: _Checker, table: Any) -> dict:
    if not isinstance(table, dict):
        raise check.fail("serve", "must be a table")
    check.unknown(table, {"allow_remote", "cors_origins"}, "serve.")
    allow = table.get("allow_remote", False)
    if not isinstance(allow, bool):
        raise check.fail("serve.allow_remote", f"must be true or false (got {allow!r})")
    origins = table.get("cors_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise check.fail("serve.cors_origins", 'must be a list of origins, e.g. ["http://localhost:3000"]')
    return {"allow_remote": allow, "cors_origins": list(origins)}


# payload fields every kind may have besides its own: where it was asked for, a parent's result
COMMON_FIELDS = frozenset({"cwd", "previous_result"})


def _check_templates(path: Path | None, name: str, spec: dict, fields: "set[str] | None") -> None:
    """Every template of a [kinds.NAME] table is well formed and names the kind's fields."""
    items = [("command", c) for c in spec.get("command", ())] + [(k, spec[k]) for k in ("cwd", "dedupe", "label") if isinstance(spec.get(k), str)]
    for key, template in items:
        problem = template_problem(template, None if key in ("command", "cwd") else fields)
        if problem:
            raise ConfigError(f"{path}: kinds.{name}.{key}: {problem}")


def apply_config(config: Config, registry: Registry, command_handler=None) -> None:
    """Register command kinds and override built-ins' policies from the config.

    `command_handler(command, cwd)` makes a command kind's handler (the shell
    kind's, wired from above the core); None: command kinds get no handler.
    """
    path = config.path
    registry.warnings += config.warnings
    for name, spec in config.kinds.items():
        spec = dict(spec)
        if "command" in spec:
            named = {p for item in (*spec["command"], spec.get("cwd") or "") for p in placeholders(item)}
            _check_templates(path, name, spec, named | set(spec.get("fields", ())) | COMMON_FIELDS)
        elif name in registry:
            _check_templates(path, name, spec, {f.name for f in registry.get(name).fields} | COMMON_FIELDS | {"argv", "env"})
        cwd = spec.pop("cwd", None)
        if "command" in spec:
            command = spec["command"]
            names: list[str] = []
            for item in (*command, cwd or ""):  # a {name} in cwd is needed as much as one in the command
                for p in placeholders(item):
                    if p not in names:
                        names.append(p)
            extra = spec.pop("fields", ())  # more fields add takes: kept in the payload, for a label or a dedupe key
            base = registry.find(name)
            kind = Kind(
                name=name,
                handler=command_handler(command, cwd) if command_handler is not None else None,
                fields=tuple(Field(n) for n in names) + tuple(Field(n, required=False) for n in extra if n not in names),
                source=f"config {path}",
                label=spec.pop("label", None) or " ".join(command),
                description=spec.pop("description", "") or f"runs: {' '.join(command)}",
                **{k: v for k, v in spec.items() if k != "command"},
                command=command,
            )
            if base is not None and base.source.startswith("built-in"):
                raise ConfigError(f"{path}: kinds.{name}.command: {name!r} is a built-in kind; choose another name")
            registry.register(kind)
        elif name in registry:
            registry.override(name, **spec)
        else:
            raise ConfigError(f"{path}: kinds.{name}: no such kind to override, and no command = [...] to define one")
    for kind in list(registry._kinds.values()):  # loaded kinds; lazy built-ins are sound
        for follow in kind.then:
            if registry.find(follow) is None:
                where = f"{path}: kinds.{kind.name}.then" if path else f"kind {kind.name!r} then"
                raise ConfigError(f"{where}: unknown kind {follow!r}")
