"""Subcommands of the offline plan: ``plan`` (and ``diff``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_plan(args: argparse.Namespace) -> int:
    from .document import dumps, to_document
    from .render import print_plan
    from .stack import plan_stack

    recording = plan_stack(args.stack)
    document = to_document(recording, show_secrets=args.show_secrets)
    if args.json:
        Path(args.json).write_text(dumps(document))
    if args.markdown:
        from .report import plan_markdown

        Path(args.markdown).write_text(plan_markdown(document))
    if not args.quiet:
        print_plan(document)
    return 0


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    """Add the plan subcommands to the CLI parser."""
    plan = sub.add_parser("plan", help="render what a stack would create, offline (mock engine)")
    plan.add_argument("stack", help="stack name (stacks/Pulumi.<name>.yaml) or path to a stack file")
    plan.add_argument("--json", metavar="PATH", help="write the plan as a stable, sorted JSON document")
    plan.add_argument("--markdown", metavar="PATH", help="write a PR-ready markdown report")
    plan.add_argument("--show-secrets", action="store_true", help="show secret values instead of [secret]")
    plan.add_argument("--quiet", "-q", action="store_true", help="print no tables")
    plan.set_defaults(run=cmd_plan)
