# Anju: `make demo` runs a whole simulated community, `make test` runs the tests.
# Both create .venv and install everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: all venv system-deps demo test test-fast lint format bench schema clean

all: test

# Debian packages a fresh machine lacks: mosquitto (test brokers), CJK fonts (plate rendering).
system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml requirements.lock | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip "setuptools<82" wheel
	# --no-deps: the lock is complete; face-recognition would otherwise pull and compile dlib.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import cv2, dlib, face_recognition, rapidocr, paho.mqtt, amqtt, aiosqlite"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/anju demo $(DEMO_ARGS)

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

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
	rm -rf $(VENV) data .pytest_cache test-output
