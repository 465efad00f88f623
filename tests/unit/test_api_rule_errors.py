"""A value the components compose for a real API that the API's rule refuses raises :class:`ApiRuleError` naming the
value, the rule and its source, also under ``python -O`` (which strips every ``assert``)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from agent_server_infra import naming
from agent_server_infra.api_errors import ApiRuleError
from agent_server_infra.provider_rules import SECURITY_GROUP_RULE_DESCRIPTION, check_text
from tests.helpers import ROOT

PACKAGE = ROOT / "components" / "agent_server_infra"
INVARIANTS = {
    ("__init__.py", "sorted({*_LAZY, 'ConfigError'}) == __all__"),
    ("env.py", "not missing"),
}
"""The asserts the package keeps: consistency of its own tables, checked at import or on every render whatever the
input, so no user can reach them (and the suite exercises both)."""


def test_an_invalid_physical_name_names_the_value_the_rule_and_its_source() -> None:
    with pytest.raises(ApiRuleError) as raised:
        naming.physical(naming.RDS_SNAPSHOT, "agents-db", "-final-None")
    error = raised.value
    assert error.value == "agents-db-final-None"
    assert error.what == naming.RDS_SNAPSHOT.what
    assert error.source == naming.RDS_SNAPSHOT.source
    assert str(error).startswith("RDS DB snapshot identifier 'agents-db-final-None': must match ")
    assert "DeleteDBInstance FinalDBSnapshotIdentifier" in str(error)


def test_an_invalid_description_names_the_value_the_rule_and_its_source() -> None:
    with pytest.raises(ApiRuleError, match=r"EC2 security group rule description 'Postgres from a&b': has characters "
                                           r"the API refuses: '&' \(rule: AWS EC2 API reference"):
        check_text(SECURITY_GROUP_RULE_DESCRIPTION, "Postgres from a&b")


def test_the_rules_raise_under_python_dash_o() -> None:
    probe = textwrap.dedent("""
        import sys
        from agent_server_infra import naming
        from agent_server_infra.api_errors import ApiRuleError
        from agent_server_infra.provider_rules import SECURITY_GROUP_RULE_DESCRIPTION, check_text

        assert False, "asserts run"  # stripped under -O: reaching the next line proves it
        refused = []
        for check in (lambda: naming.physical(naming.ELASTICACHE_SNAPSHOT, "agents", "-final-None"),
                      lambda: naming.checked(naming.IAM_ROLE, "x" * 65),
                      lambda: check_text(SECURITY_GROUP_RULE_DESCRIPTION, "Redis from a&b")):
            try:
                check()
            except ApiRuleError as exc:
                refused.append(exc.value)
        print(sys.flags.optimize, refused)
    """)
    result = subprocess.run([sys.executable, "-O", "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == f"1 ['agents-final-None', '{'x' * 65}', 'Redis from a&b']"


def test_the_package_asserts_nothing_a_user_can_reach() -> None:
    found = {(str(path.relative_to(PACKAGE)), ast.unparse(node.test))
             for path in PACKAGE.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Assert)}
    assert found == INVARIANTS
