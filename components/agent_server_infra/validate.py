"""Validate a raw stack config (a dict of ``agent-server:`` keys) into a :class:`StackConfig` and its budgets.

Each section is validated on its own so a mistake in one does not hide the mistakes in another; cross-field
rules run on every section that validated; the connection budget runs last. Every error is collected and raised
together as one :class:`ConfigError` before any resource is registered.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from . import rules
from .config import OPTIONAL_SECTIONS, SECRET_ENV_KEY, SECRET_KEYS, SECTIONS, Secrets, StackConfig, section_model
from .errors import ConfigError, Issue, errors, show, warnings
from .sizing import ConnectionPlan, RedisUser, SizingError, plan_connections, retry_budget

KNOWN_KEYS: tuple[str, ...] = (*SECTIONS, *SECRET_KEYS, SECRET_ENV_KEY)


def lift_secret_env(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stack's raw config with its top-level secret map ``extraSecretEnv`` moved to ``server.extraSecretEnv``
    (where the components take it), unless ``server`` already has one (a stack file is refused that earlier)."""
    lifted = dict(raw)
    secret_env = lifted.pop(SECRET_ENV_KEY, None)
    if secret_env is None:
        return lifted
    server = lifted.get("server")
    server = dict(server) if isinstance(server, Mapping) else {}
    server.setdefault("extraSecretEnv", secret_env)
    lifted["server"] = server
    return lifted


@dataclass(frozen=True)
class ValidatedStack:
    """A stack config that passed every rule, with its warnings and connection budgets."""

    config: StackConfig
    connections: ConnectionPlan
    warnings: list[Issue]


@dataclass(frozen=True)
class ValidatedSections:
    """Some sections of a stack config that passed their rules (a component's own part of the config)."""

    config: StackConfig
    warnings: list[Issue]


def config_path(parts: Sequence[int | str]) -> str:
    """``("server", "api", "replicas")`` → ``server.api.replicas``; list indexes as ``[0]``."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _path(section: str, loc: Sequence[int | str]) -> str:
    """``server`` + ``("api", "replicas")`` → ``server.api.replicas``; the top-level secrets have no section."""
    return config_path([section, *loc] if section else loc)


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = f" (got {show(error['input'])})" if "input" in error and kind != "missing" else ""
    templates = {
        "greater_than_equal": "must be ≥ {ge}",
        "greater_than": "must be > {gt}",
        "less_than_equal": "must be ≤ {le}",
        "less_than": "must be < {lt}",
        "too_short": "must have at least {min_length} item(s)",
        "too_long": "must have at most {max_length} item(s)",
        "string_too_long": "must be at most {max_length} characters",
        "string_pattern_mismatch": "must match {pattern}",
        "literal_error": "must be one of {expected}",
        "missing": "required",
        "extra_forbidden": "unknown key",
        "int_parsing": "must be an integer",
        "int_type": "must be an integer",
        "int_from_float": "must be a whole number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
    }
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    template = templates.get(kind)
    if template is None:
        return f"{error['msg']}{got}"
    return template.format(**ctx) + got


def _known_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys of the object at ``loc`` (its last part excluded) under ``model``: where an unknown key was."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        info = next((info for name, info in current.model_fields.items() if (info.alias or name) == part), None)
        if info is None:
            return []
        current = section_model(info.annotation)
    return [] if current is None else [str(info.alias or name) for name, info in current.model_fields.items()]


def pydantic_issues(section: str, exc: ValidationError, model: type[BaseModel] | None = None) -> list[Issue]:
    issues: list[Issue] = []
    for error in exc.errors():
        message = _message(error)
        if error["type"] == "extra_forbidden" and model is not None and error["loc"]:
            close = difflib.get_close_matches(str(error["loc"][-1]), _known_keys(model, error["loc"]), n=1)
            if close:
                message += f" (did you mean {close[0]}?)"
        issues.append(Issue(_path(section, error["loc"]), message))
    return issues


def _validate(section: str, model: type[BaseModel], data: Any) -> tuple[BaseModel | None, list[Issue], set[str]]:
    """Validate one section. On errors, also return a stand-in built without the broken keys, so the
    cross-field rules still check everything else (their findings on the broken keys are dropped)."""
    data = {} if data is None else data
    try:
        return model.model_validate(data), [], set()
    except ValidationError as exc:
        issues = pydantic_issues(section, exc, model)
        broken = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    if not isinstance(data, dict):
        return None, issues, {section}
    try:
        stand_in = model.model_validate({key: value for key, value in data.items() if key not in broken})
    except ValidationError:
        return None, issues, {section}
    return stand_in, issues, {_path(section, [key]) for key in broken}


def under(issue: Issue, path: str) -> bool:
    """Whether ``issue`` is about ``path`` or something inside it (``server.api`` holds ``server.api.replicas``)."""
    return issue.path == path or issue.path.startswith((path + ".", path + "["))


def _outside(issue: Issue, broken: set[str]) -> bool:
    return not any(under(issue, path) for path in broken)


def validate_stack(
    raw: Mapping[str, Any],
    source: str | None = None,
    *,
    redis_others: Sequence[RedisUser] = (),
    name: str = "server",
) -> ValidatedStack:
    """Validate every section, every cross-field rule and the connection budget; raise one ConfigError."""
    checked = validate_sections(raw, source)
    config, issues = checked.config, checked.warnings
    try:
        connections = plan_connections(
            config.server,
            postgres=config.postgres,
            redis=config.redis,
            name=name,
            redis_others=redis_others,
        )
        retry_budget(config.server)
    except SizingError as exc:
        raise ConfigError([*issues, Issue(exc.path, exc.message)], source) from None
    return ValidatedStack(config=config, connections=connections, warnings=issues)


def validate_sections(raw: Mapping[str, Any], source: str | None = None,
                      sections: Collection[str] | None = None) -> ValidatedSections:
    """Validate every section and the cross-field rules of ``sections`` (default: all, and ``"secrets"``, the
    rules that need a secret), without the budget: what a component checks of its own part of the config
    (``("network", "postgres", "secrets")``); raise one ConfigError."""
    scope = {*SECTIONS, "secrets"} if sections is None else set(sections)
    raw = lift_secret_env(raw)
    issues = [
        Issue(key, f"unknown key (known: {', '.join(KNOWN_KEYS)})")
        for key in sorted(raw) if key not in KNOWN_KEYS
    ]
    parsed: dict[str, Any] = {}
    broken: set[str] = set()
    for section, model in SECTIONS.items():
        if section in OPTIONAL_SECTIONS and raw.get(section) is None:
            parsed[section] = None
            continue
        value, found, broken_paths = _validate(section, model, raw.get(section))
        issues.extend(found)
        broken |= broken_paths
        parsed[section] = value
    secrets_value, found, _ = _validate("", Secrets, {key: raw[key] for key in SECRET_KEYS if key in raw})
    issues.extend(found)
    secrets = secrets_value if isinstance(secrets_value, Secrets) else Secrets()
    field_issues = len(issues)

    postgres = parsed["postgres"] if "postgres" in scope else None
    redis = parsed["redis"] if "redis" in scope else None
    server = parsed["server"] if "server" in scope else None
    if postgres is not None:
        issues.extend(rules.check_postgres(postgres, secrets))
    if redis is not None:
        issues.extend(rules.check_redis(redis, secrets))
    if server is not None:
        issues.extend(rules.check_server(server, secrets if "secrets" in scope else None, parsed["redis"]))
    if "network" not in broken and "network" in scope:
        issues.extend(rules.check_network(parsed["network"], postgres, redis))
    if postgres is not None and server is not None:
        issues.extend(rules.check_iam(postgres, server))
        issues.extend(rules.check_postgres_tls(postgres, server))
    if redis is not None and server is not None:
        issues.extend(rules.check_redis_iam(redis, server))
    if "alarms" in scope and parsed["alarms"] is not None:
        issues.extend(rules.check_alarms(parsed["alarms"]))

    issues = issues[:field_issues] + [issue for issue in issues[field_issues:] if _outside(issue, broken)]
    if errors(issues):
        raise ConfigError(issues, source)
    return ValidatedSections(config=StackConfig(secrets=secrets, **parsed), warnings=warnings(issues))
