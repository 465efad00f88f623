"""Subcommands of the offline plan: ``plan`` and ``diff``.

Both are marked ``fast_exit``: run as the process's entry point, they end without the interpreter's teardown
(see :func:`agent_server_infra.cli.exit_without_teardown`). Modules are imported inside the commands so ``diff``
never loads Pulumi, pydantic or rich, and ``plan --quiet`` never loads rich.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..exits import EXIT_BLOCKED, EXIT_CHANGES, EXIT_INVALID, EXIT_NO_CHANGES


def cmd_plan(args: argparse.Namespace) -> int:
    from .document import dumps, to_document
    from .stack import plan_stack

    recording = plan_stack(args.stack)
    document = to_document(recording, show_secrets=args.show_secrets)
    if args.json:
        Path(args.json).write_text(dumps(document), encoding="utf-8")
    if args.manifests:
        from .manifests import write_manifests

        write_manifests(recording.resources, Path(args.manifests), show_secrets=args.show_secrets)
    if args.markdown:
        from .report import plan_markdown

        Path(args.markdown).write_text(plan_markdown(document), encoding="utf-8")
    if not args.quiet:
        from .render import print_plan

        print_plan(document)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    import json

    from .diff import PlanFileError, diff_documents, load_plan, safety_document
    from .diff_markdown import diff_markdown

    try:
        old, new = load_plan(args.old), load_plan(args.new)
    except PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    allowed = frozenset(args.allow or ())
    diff = diff_documents(old, new)
    markdown = diff_markdown(diff, allowed)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(safety_document(diff, allowed), indent=2, sort_keys=True,
                                              ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.quiet:
        sys.stdout.write(markdown)
    if diff.blocked(allowed):
        return EXIT_BLOCKED
    return EXIT_CHANGES if diff.has_changes else EXIT_NO_CHANGES


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    """Add the plan subcommands to the CLI parser."""
    plan = sub.add_parser("plan", help="render what a stack would create, offline (mock engine)")
    plan.add_argument("stack", help="stack name (stacks/Pulumi.<name>.yaml) or path to a stack file")
    plan.add_argument("--json", metavar="PATH", help="write the plan as a stable, sorted JSON document")
    plan.add_argument("--markdown", metavar="PATH", help="write a PR-ready markdown report")
    plan.add_argument("--manifests", metavar="DIR", help="write every Kubernetes object as plain YAML (secrets "
                      "masked unless --show-secrets), for kubectl diff, kubeconform and the like")
    plan.add_argument("--show-secrets", action="store_true", help="show secret values instead of [secret]")
    plan.add_argument("--quiet", "-q", action="store_true", help="print no tables")
    plan.set_defaults(run=cmd_plan, fast_exit=True)

    from ..transitions import BLOCKING

    diff = sub.add_parser(
        "diff", help="what changes between two `plan --json` documents and what each change really does (exit 0: "
                     "none, 3: changes, 4: blocked)")
    diff.add_argument("old", help="the plan before (e.g. of the base commit)")
    diff.add_argument("new", help="the plan after (e.g. of the pull request)")
    diff.add_argument("--markdown", metavar="PATH", help="also write the markdown to PATH")
    diff.add_argument("--json", metavar="PATH", help="write the change-safety document: {changes: [{urn, type, name, "
                      "action, effects, reasons}], blocked}")
    diff.add_argument("--allow", metavar="EFFECT", action="append", choices=sorted(BLOCKING),
                      help="accept a blocking effect deliberately (repeatable)")
    diff.add_argument("--quiet", "-q", action="store_true", help="print nothing; only the exit code tells")
    diff.set_defaults(run=cmd_diff, fast_exit=True)
