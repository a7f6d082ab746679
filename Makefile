# The two entry points a fresh machine needs; both run the idempotent set-up first.
.PHONY: setup demo test lit pytest bench clean

setup:
	@bash tools/setup.sh

demo: setup
	.venv/bin/bcr-demo

test: setup
	.venv/bin/lit -sv test/lit
	.venv/bin/python -m pytest -q test/py

lit: setup
	.venv/bin/lit -sv test/lit

pytest: setup
	.venv/bin/python -m pytest -q test/py

clean:
	rm -rf build test/lit/*/Output .pytest_cache
