"""Plan a stack offline: its stack file's config through ``__main__.py`` under the mock engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from ..config import SECRET_ENV_KEY, SECRET_KEYS
from ..errors import NAMESPACE
from ..loaders import find_project_root, load_stack_file, resolve_stack_file
from ..validate import validate_stack
from . import engine


def stack_name(path: Path) -> str:
    name = path.name
    return name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")


def stack_config(path: Path) -> tuple[dict[str, Any], list[str], str]:
    """The engine config of a stack file (full keys), its secret keys, and its AWS region.

    Validates our keys first (when the file has any: a program of the user's own may read only its own), so an
    invalid stack fails with every error before the program runs. Their warnings are the program's to report (the
    stack program logs them); warnings about the file's other keys go to stderr here.
    """
    raw, others = load_stack_file(path)
    if raw:
        validate_stack(raw, str(path))
    for warning in others.warnings:
        print(warning.render(str(path)), file=sys.stderr)
    config: dict[str, Any] = {**others, **{f"{NAMESPACE}:{key}": value for key, value in raw.items()}}
    secret_keys = [f"{NAMESPACE}:{key}" for key in (*SECRET_KEYS, SECRET_ENV_KEY) if key in raw] + others.secret_keys
    region = str(others.get("aws:region") or "us-east-1")
    return config, secret_keys, region


def _program(stack_file: Path) -> Path:
    """The stack program of the project holding the stack file, else of the current directory's project."""
    for start in (stack_file.parent, Path.cwd()):
        try:
            candidate = find_project_root(start) / "__main__.py"
        except FileNotFoundError:
            continue
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no Pulumi project with a __main__.py above {stack_file} or the current directory")


def plan_stack(stack: str, program: Path | None = None) -> engine.Recording:
    """Run the project's ``__main__.py`` (or ``program``) for ``stack`` (a name or a stack file) under mocks."""
    path = resolve_stack_file(stack)
    config, secret_keys, region = stack_config(path)
    main = program or _program(path)
    project = str((yaml.safe_load((main.parent / "Pulumi.yaml").read_text()) or {}).get("name", "project"))
    return engine.run_file(main, config=config, secret_keys=secret_keys, stack=stack_name(path), region=region,
                           project=project)
