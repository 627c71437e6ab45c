"""The test harness: kube emulator, process kubelet, NATS, PostgreSQL, scripted LLM.

Each `*_fixtures.py` module here is loaded as a pytest plugin by tests/conftest.py, so
every test suite can use its fixtures without importing them.
"""
