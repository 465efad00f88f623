"""Exit codes of every ``agent-server-infra`` command."""

EXIT_OK = 0
EXIT_ERROR = 1
"""Anything else went wrong."""
EXIT_INVALID = 2
"""Invalid config (or not a plan document)."""
EXIT_NO_CHANGES = 0
EXIT_CHANGES = 3
"""``diff``, like ``terraform plan -detailed-exitcode``: 0 nothing changes, 3 something does."""
EXIT_BLOCKED = 4
"""``diff``: a change would fail, lose a store's data or over-commit its connections (and was not allowed)."""
