"""Read raw ``agent-server:`` config from a stack file or from the running Pulumi program.

Both loaders produce the same shape, a dict keyed by the part after ``agent-server:``, which
:func:`agent_server_infra.validate.validate_stack` turns into a validated stack. Secure values in a stack file
are encrypted, so they become opaque placeholders; inside a Pulumi program the engine has decrypted them.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml

from .config import SECRET_ENV_KEY, SECRET_KEYS, placeholder
from .errors import NAMESPACE, ConfigError, Issue


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding a ``Pulumi.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no Pulumi.yaml in {here} or its parents")


def stack_config_dir(project: Path) -> Path:
    """Where the project's stack files are, as Pulumi finds them: ``stackConfigDir`` of ``Pulumi.yaml`` (relative
    to it), else beside ``Pulumi.yaml``."""
    document = yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}
    configured = document.get("stackConfigDir") if isinstance(document, dict) else None
    return project / str(configured) if configured else project


def resolve_stack_file(stack: str, root: Path | None = None) -> Path:
    """A stack name (``dev``) resolved to ``Pulumi.dev.yaml`` in the project's stack config directory, or a path
    to a stack file."""
    path = Path(stack)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"no stack file at {stack}")
        return path
    directory = stack_config_dir(find_project_root(root))
    candidate = directory / f"Pulumi.{stack}.yaml"
    if not candidate.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                       for p in directory.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack {stack!r}: {candidate} does not exist (known: {', '.join(known)})")
    return candidate


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value or any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


class StackFile(dict[str, Any]):
    """What a stack file's ``config:`` holds besides our keys: the other namespaces' config (secure values as
    placeholders, their keys in :attr:`secret_keys`) and warnings about it."""

    def __init__(self) -> None:
        super().__init__()
        self.secret_keys: list[str] = []
        self.warnings: list[Issue] = []


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def raw_from_mapping(config: dict[str, Any], source: str) -> tuple[dict[str, Any], StackFile]:
    """Split a stack file's ``config:`` block into our raw keys and everything else (provider config).

    Secure values of secret keys become placeholders; a secure value anywhere else of ours, or a secret key given
    in plain text, is an error (secrets nested in objects come back in plain text from ``require_object``). A
    secure value of another namespace becomes a placeholder too (the engine hands the program a secret), and a
    namespace that looks like a typo of ours is a warning.
    """
    ours: dict[str, Any] = {}
    others = StackFile()
    issues: list[Issue] = []
    for full_key, value in config.items():
        namespace, _, key = str(full_key).partition(":")
        if namespace != NAMESPACE or not key:
            if _is_secure(value):
                others[str(full_key)] = placeholder(str(full_key))
                others.secret_keys.append(str(full_key))
            else:
                others[str(full_key)] = value
            if namespace != NAMESPACE and difflib.get_close_matches(namespace, [NAMESPACE], n=1, cutoff=0.8):
                others.warnings.append(Issue(str(full_key), f"is not read: namespace {namespace!r} is not "
                                         f"{NAMESPACE!r} (did you mean {NAMESPACE}:{key}?)", "warning"))
            continue
        is_secure = _is_secure(value)
        if key == SECRET_ENV_KEY:
            found, secret_env = _secret_env(value)
            issues.extend(found)
            ours[key] = secret_env
        elif key == "server" and isinstance(value, dict) and "extraSecretEnv" in value:
            issues.append(Issue("server.extraSecretEnv", _SECRET_ENV_NESTED))
        elif key in SECRET_KEYS:
            if not is_secure:
                issues.append(Issue(key, "is a secret: set it with `pulumi config set --secret` (got plain text)"))
                continue
            ours[key] = placeholder(key)
        elif _has_secure(value):
            issues.append(Issue(key, "must not contain secure values: secrets nested in an object are decrypted "
                                f"into plain text; use the top-level secret keys ({', '.join(SECRET_KEYS)})"))
        else:
            ours[key] = value
    if issues:
        raise ConfigError(issues, source)
    return ours, others


_SECRET_ENV_NESTED = (f"secret variables go in the top-level secret map {NAMESPACE}:{SECRET_ENV_KEY} (pulumi config "
                      f"set --secret --path '{NAMESPACE}:{SECRET_ENV_KEY}.NAME' VALUE), never in "
                      f"{NAMESPACE}:server, whose values are plain text")


def _secret_env(value: Any) -> tuple[list[Issue], dict[str, str]]:
    """``extraSecretEnv`` of a stack file: a map whose every value is a secure value (names stay readable, so
    they are validated offline; values become placeholders)."""
    how = f"pulumi config set --secret --path '{NAMESPACE}:{SECRET_ENV_KEY}.NAME' VALUE"
    if not isinstance(value, dict) or _is_secure(value):
        return [Issue(SECRET_ENV_KEY, f"must be a map of variable names to secure values, one per variable ({how}); "
                      "a whole map encrypted as one value hides the names from validation")], {}
    issues = [Issue(f"{SECRET_ENV_KEY}.{name}", f"is a secret: set it with `{how}` (got plain text)")
              for name, item in value.items() if not _is_secure(item)]
    return issues, {str(name): placeholder(f"{SECRET_ENV_KEY}.{name}") for name, item in value.items()
                    if _is_secure(item)}


def load_stack_file(path: Path) -> tuple[dict[str, Any], StackFile]:
    """Read ``stacks/Pulumi.<stack>.yaml``: (our raw config, the other namespaces' config)."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([Issue("", f"is not valid YAML: {exc}")], str(path)) from None
    if not isinstance(document, dict):
        raise ConfigError([Issue("", "a stack file must be a mapping with a `config:` key")], str(path))
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([Issue("", "the stack file's `config:` must be a mapping")], str(path))
    return raw_from_mapping(config, str(path))


def load_pulumi_config() -> dict[str, Any]:
    """Our raw config from the running Pulumi program (real engine or mocks).

    Reads the raw config map rather than ``Config.get``: structured values arrive as JSON text, and secrets are
    read as text here only to be validated; components wrap them in ``Output.secret`` before use.
    """
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in merged.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key in SECRET_KEYS:
            raw[key] = value
            continue
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            parsed = value
        if key == "server" and isinstance(parsed, dict) and "extraSecretEnv" in parsed:
            raise ConfigError([Issue("server.extraSecretEnv", _SECRET_ENV_NESTED)])
        raw[key] = parsed
    return raw
