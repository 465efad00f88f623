"""``agent-server-infra``: check, plan, diff and docs. Exit codes: 0 ok, 2 invalid config, 1 other errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError
from .loaders import find_project_root, load_stack_file, resolve_stack_file
from .validate import ValidatedStack, validate_stack

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2


def load_and_validate(stack: str) -> tuple[Path, ValidatedStack]:
    path = resolve_stack_file(stack)
    raw, _ = load_stack_file(path)
    return path, validate_stack(raw, str(path))


def summary(path: Path, stack: ValidatedStack) -> str:
    pg, redis = stack.connections.postgres, stack.connections.redis
    config = stack.config
    return (
        f"{path}: ok · {config.server.deployment_model} · postgres {config.postgres.mode} pool "
        f"{stack.connections.pool_max_size}/replica, {pg.used}/{pg.usable} connections ({pg.usage_percent}%) · "
        f"redis {config.redis.mode} {stack.connections.redis_max_connections}/replica, {redis.used}/{redis.usable} "
        f"clients ({redis.usage_percent}%) · {len(stack.warnings)} warning(s)"
    )


def cmd_check(args: argparse.Namespace) -> int:
    path, stack = load_and_validate(args.stack)
    for warning in stack.warnings:
        print(warning.render(str(path)), file=sys.stderr)
    print(summary(path, stack))
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    from .docs import stale_docs, write_docs

    root = find_project_root()
    if args.check:
        stale = stale_docs(root)
        for relative in stale:
            print(f"{relative} is stale: run `agent-server-infra docs`", file=sys.stderr)
        return EXIT_ERROR if stale else EXIT_OK
    for path in write_docs(root):
        print(f"wrote {path.relative_to(root)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-server-infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a stack's config and connection budgets")
    check.add_argument("stack", help="stack name (stacks/Pulumi.<name>.yaml) or path to a stack file")
    check.set_defaults(run=cmd_check)

    docs = sub.add_parser("docs", help="regenerate docs/config-reference.md and docs/env-reference.md")
    docs.add_argument("--check", action="store_true", help="exit 1 if a generated doc is stale, write nothing")
    docs.set_defaults(run=cmd_docs)

    from .plan.commands import register

    register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_INVALID
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # pragma: no cover - e.g. `| head`
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
