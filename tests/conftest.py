"""Shared fixtures: loopback servers (HTTP, SMTP) and the state databases (SQLite, PostgreSQL)."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.database"]
