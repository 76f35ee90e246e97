# Anju: `make demo` runs a whole simulated community, `make test` runs the tests.
# Both create .venv and install everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: all tree venv venv-edge lock system-deps demo test test-all faults-long test-fast lint format bench schema clean

all: test

# Debian packages a fresh machine lacks: mosquitto (test brokers), CJK fonts (plate rendering).
system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml requirements.lock | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# The lock is complete and hashed (make lock); --no-deps because face-recognition
	# declares dlib, which would be compiled for 15+ minutes (dlib-bin provides it).
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import cv2, dlib, face_recognition, rapidocr, paho.mqtt, amqtt, aiosqlite, sqlalchemy, asyncpg, alembic"
	touch $(STAMP)

venv: $(STAMP)

# Regenerate the hashed locks from pyproject.toml (the dev set, and an edge device's set).
lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--override requirements-overrides.txt --no-header -q -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra edge --generate-hashes --python-version 3.11 \
		--override requirements-overrides.txt --no-header -q -o requirements-edge.lock

# An edge device's install (requirements-edge.lock): no web, database or report libraries.
EDGE_VENV ?= .venv-edge
venv-edge:
	$(PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(EDGE_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r requirements-edge.lock
	$(EDGE_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation .

demo: venv
	$(VENV)/bin/anju demo $(DEMO_ARGS)

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

# Everything, with the fault suite's long run (tests/faults/: minutes of load, outages).
test-all: venv
	ANJU_FAULTS_LONG=1 $(PY) -m pytest -q -p no:cacheprovider

faults-long: venv
	ANJU_FAULTS_LONG=1 $(PY) -m pytest -q -p no:cacheprovider -m faults -s tests/faults

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schema: venv
	$(VENV)/bin/anju schema --out docs/schema

bench: venv
	$(PY) bench/lpr.py
	$(PY) bench/face.py
	$(PY) bench/parking.py
	$(PY) bench/hub_ingest.py

clean:
	rm -rf $(VENV) $(EDGE_VENV) data .pytest_cache test-output
tree:
	@$(PY) scripts/tree.py
