"""The agent-server-infra CrossGuard policy pack: `pulumi preview --policy-pack policies`."""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from rules import RULES, Rule


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.props, bool(args.opts.protect)):
            report_violation(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate)


PolicyPack(
    name="agent-server-infra",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(rule) for rule in RULES],
)
