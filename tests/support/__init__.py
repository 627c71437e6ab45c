"""Test support shared by every test suite: schema validation, harness fixtures."""
