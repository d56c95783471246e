# isspanel: two commands set everything up.
#   make up    the whole pipeline (broker, producer, Flink jobs, dashboard)
#   make test  the whole test suite against a real broker, real Flink and headless Chromium
# Each installs what it needs once (venv, pip, Maven jars, Chromium) and reuses it after.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STATE  := .isspanel
JARS   := $(STATE)/jars
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=
SQL_CLIENT_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help up test bench lint format lab sql-client jars venv chromium kafka-start kafka-stop clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv installs from PyPI as pip would, the same versions, but links from its cache: a
	@# fresh clone's venv in ~30 s instead of ~2.5 min (apache-flink alone is ~300 MB).
	@# --compile-bytecode writes the .pyc files pip writes and uv does not: where
	@# PYTHONDONTWRITEBYTECODE is set (this CI's machine) nothing writes them later, and every
	@# process compiled Panel, Bokeh and pandas again (import panel 2.6 s -> 1.2 s).
	$(BIN)/pip install --quiet --progress-bar off uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test]'
	@touch $@

venv: $(BIN)/.installed ## create .venv and install the project (once)

$(JARS)/.resolved: pom.xml
	mvn -q -B -f pom.xml package
	@touch $@

jars: $(JARS)/.resolved ## resolve the Kafka broker, Flink connector and SQL gateway jars from Maven Central (once)

chromium: ## install Debian's chromium for the browser tests (once)
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

up: venv jars ## run broker, producer, Flink jobs and the dashboard (Ctrl-C stops all)
	$(BIN)/isspanel up

test: venv jars chromium ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

bench: venv jars chromium ## run the benchmarks and print their tables
	$(BIN)/python -m bench

lint: venv ## ruff check and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: venv ## format the code with ruff
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

lab: venv jars ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

sql-client: venv jars ## Flink's SQL client with the tables of flink/*.sql (SQL_CLIENT_ARGS='--bounded')
	$(BIN)/isspanel sql-client $(SQL_CLIENT_ARGS)

kafka-start: venv jars ## start the local broker alone
	$(BIN)/isspanel kafka start

kafka-stop: venv ## stop the local broker
	$(BIN)/isspanel kafka stop

clean: ## stop the broker and remove broker data (keeps jars and venv)
	-$(BIN)/isspanel kafka stop
	rm -rf $(STATE)/kafka $(STATE)/tmp
