"""``agent-server-infra``: check, plan, diff, docs and releases. Exit codes: 0 ok, 2 invalid config, 1 other errors."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .errors import ConfigError

if TYPE_CHECKING:  # the config models (pydantic) load only for the commands that use them: not for `diff`
    from .validate import ValidatedStack

from .exits import EXIT_ERROR, EXIT_INVALID, EXIT_OK


def load_and_validate(stack: str) -> tuple[Path, ValidatedStack]:
    from .loaders import load_stack_file, resolve_stack_file
    from .validate import ValidatedStack, validate_stack

    path = resolve_stack_file(stack)
    raw, others = load_stack_file(path)
    validated = validate_stack(raw, str(path))
    return path, ValidatedStack(config=validated.config, connections=validated.connections,
                                warnings=[*others.warnings, *validated.warnings])


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
    from .loaders import find_project_root

    root = find_project_root()
    if args.check:
        stale = stale_docs(root)
        for relative in stale:
            print(f"{relative} is stale: run `agent-server-infra docs`", file=sys.stderr)
        return EXIT_ERROR if stale else EXIT_OK
    for path in write_docs(root):
        print(f"wrote {path.relative_to(root)}")
    return EXIT_OK


def cmd_releases(args: argparse.Namespace) -> int:
    from .release_checks import problems
    from .release_scan import changes, default_cache, generate
    from .releases import TABLE_PATH, parse_table, render_table

    written = TABLE_PATH.read_text() if TABLE_PATH.exists() else None
    current = parse_table(written) if written is not None else ()
    versions = sorted({*(release.version for release in current), *args.add} - set(args.remove))
    table = generate(versions, Path(args.cache) if args.cache else default_cache())
    for line in changes(table):
        print(line)
    found = problems(table)
    for problem in found:
        print(f"problem: {problem}", file=sys.stderr)
    text = render_table(table)
    if args.write:
        TABLE_PATH.write_text(text)
        print(f"wrote {TABLE_PATH.name}: {len(table)} releases, newest {table[-1].version}")
        return EXIT_ERROR if found else EXIT_OK
    stale = written != text
    if stale:
        print(f"{TABLE_PATH.name} differs from the wheels: run `agent-server-infra releases --write`", file=sys.stderr)
    return EXIT_ERROR if stale or found else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-server-infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a stack's config and connection budgets")
    check.add_argument("stack", help="stack name (stacks/Pulumi.<name>.yaml) or path to a stack file")
    check.set_defaults(run=cmd_check)

    docs = sub.add_parser("docs", help="regenerate docs/config-reference.md and docs/env-reference.md")
    docs.add_argument("--check", action="store_true", help="exit 1 if a generated doc is stale, write nothing")
    docs.set_defaults(run=cmd_docs)

    releases = sub.add_parser("releases", help="regenerate the table of what each verified langgraph-api release "
                              "reads (releases.json) from its wheel on PyPI, and check the env table against it")
    releases.add_argument("--write", action="store_true", help="write releases.json (default: exit 1 if stale)")
    releases.add_argument("--add", action="append", default=[], metavar="VERSION", help="verify another release")
    releases.add_argument("--remove", action="append", default=[], metavar="VERSION", help="drop a release")
    releases.add_argument("--cache", help="where wheels are kept (default: ~/.cache/agent-server-infra/wheels)")
    releases.set_defaults(run=cmd_releases)

    from .plan.commands import register

    register(sub)
    return parser


def run(args: argparse.Namespace) -> int:
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


def exit_without_teardown(code: int) -> NoReturn:
    """End the process now: flush what was printed and logged, then skip the interpreter's teardown.

    A plan leaves a quarter of a million objects of the SDKs' generated types behind; freeing them one by one at
    exit takes longer than the plan itself (0.6 s of 1.4 s measured), and nothing that remains needs a finalizer:
    every file was written and closed by the command.
    """
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # reader gone or stream closed
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI. As the process's entry point (``argv`` from ``sys.argv``), commands marked ``fast_exit`` (plan,
    diff) end the process without the interpreter's teardown; called with ``argv`` it always returns."""
    args = build_parser().parse_args(argv)
    short_lived = argv is None and getattr(args, "fast_exit", False)
    if short_lived:
        # Nothing this process allocates outlives it, and it never tears down: the cyclic collector would only
        # re-walk the SDKs' long-lived objects (a quarter of a second of a 50-server plan).
        gc.disable()
    code = run(args)
    if short_lived:
        exit_without_teardown(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
