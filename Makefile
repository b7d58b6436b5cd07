# The README's two commands are `make demo` and `make test`.
PY := .venv/bin/python
LAB ?= dev
# The lab's front web server (when `make demo` makes the lab): nginx, apache or none.
FRONT ?= nginx

.PHONY: setup demo test lint lab lab-down preview clean

setup:
	bash scripts/setup.sh

# Set everything up, make the lab host, deploy the example app, show what was
# applied and (with a real unitd) the app answering. `make demo [LAB=dev] [FRONT=nginx|apache|none]`.
demo: setup
	DEMO_LAB=$(LAB) DEMO_FRONT=$(FRONT) bash scripts/demo.sh

# Set everything up, lint and type-check, then run every test (engine, lab,
# contract, remote, e2e).
test: setup lint
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# The lab host alone: `make lab [LAB=dev] [UNIT=auto|real|double|absent]`; `make lab-down`.
UNIT ?= auto
lab: setup
	$(PY) -m lab up --name $(LAB) --unit $(UNIT) --front $(FRONT)

lab-down:
	$(PY) -m lab down --name $(LAB)

preview: setup
	scripts/pulumi preview --diff --stack dev
