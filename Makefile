# Developer shortcuts; CI uses scripts/test.
.PHONY: crds test lint bench

crds:  ## Regenerate CRD YAML from the pydantic model
	uv run python -m k8sclaw_protocol._crdgen k8sclaw/manifests/crds

test:
	bash scripts/test

lint:
	uv run ruff check . && uv run ruff format --check . && uv run mypy && uv run lint-imports

bench:
	uv run python bench/cli_startup.py
