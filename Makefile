# The two things a newcomer runs first (README): `make preview` and `make test`.
.PHONY: setup preview test lint typecheck pytest bench local local-down

VENV_PY := .venv/bin/python
STACK ?= prod

setup:
	@bash .ci/setup.sh

preview: setup
	$(VENV_PY) -m scripts preview --stack $(STACK)

lint: setup
	.venv/bin/ruff check .

typecheck: setup
	.venv/bin/pyright

pytest: setup
	$(VENV_PY) -m pytest -q

# The whole test suite: lint, types, then every test (pure, mock-engine, real servers).
test: lint typecheck pytest

bench: setup
	$(VENV_PY) -m scripts bench preview

# The platform on this machine from the rendered node artifacts (docs/local.md); LOCAL_STACK=dev by default.
LOCAL_STACK ?= dev
local: setup
	$(VENV_PY) -m scripts local up --stack $(LOCAL_STACK)

local-down:
	$(VENV_PY) -m scripts local down
