"""Integration tests against real PostgreSQL/Redis processes started by fixtures (see conftest.py)."""
