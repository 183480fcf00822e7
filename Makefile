# Two commands matter: `make run` (the whole system) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench bench-large bench-join bench-join-floor bench-broker bench-smtp token asyncapi lock clean

$(STAMP): pyproject.toml package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"
	@command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund --silent || echo "npm not available: accessibility and OpenAPI lint tests will be skipped"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/honcho start -f Procfile

# On top of `make run` (another terminal): a story told through the gateway, and
# a sign-in link per mentor. GATEWAY_URL=... when the gateway is elsewhere.
demo: $(STAMP)
	@$(PY) scripts/demo.py

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services contracts
	$(VENV)/bin/pytest -q --durations=15

# The fault suite alone (`make test` runs it too, as part of tests/): services,
# its own RabbitMQ node and its own PostgreSQL killed mid-cascade, SMTP failing,
# a node of its own three-node cluster killed (the partitions: make faults-slow);
# prints per scenario the time to converge, emails and dead letters.
.PHONY: faults
faults: $(STAMP)
	$(VENV)/bin/pytest -q -s tests/faults

# The fault scenarios too long for every run: the network partitions
# (tests/faults/test_partitions.py; root: ip netns).
.PHONY: faults-slow
faults-slow: $(STAMP)
	$(VENV)/bin/pytest -q -s -m slow tests/faults

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services contracts

# Figures, not tests: the raw broker baseline, then the sweep cascade with its
# emails (10,000 subscriptions); bench-large the same with 100,000; bench-join
# joins through the gateway at 100, 200, 300 and 400/s, 60 s each, on the whole
# system: latency, CPU per join of each process, and the knee; bench-join-floor
# what the contract's path for a join costs with nothing but the libraries (run
# it right after bench-join: only runs back to back compare).
bench: $(STAMP)
	$(PY) bench/broker.py
	$(PY) bench/sweep.py

bench-large: $(STAMP)
	$(PY) bench/broker.py --messages 275000
	$(PY) bench/sweep.py --subscriptions 100000 --modes concurrent

bench-join: $(STAMP)
	$(PY) bench/join.py

bench-join-floor: $(STAMP)
	$(PY) bench/join_floor.py

bench-broker: $(STAMP)
	$(PY) bench/broker.py

# One email on the wire, pipelined and through aiosmtplib, against aiosmtpd.
bench-smtp: $(STAMP)
	$(PY) bench/smtp.py

token: $(STAMP)
	@$(PY) -m services.gateway.token --role $(or $(ROLE),mentor) --sub $(or $(SUB),00000000-0000-0000-0000-000000000001)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

asyncapi: $(STAMP)
	$(PY) scripts/asyncapi.py

lock: $(STAMP)
	$(PY) scripts/lock.py
