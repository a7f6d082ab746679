# The two entry points a fresh machine needs; both run the idempotent set-up first.
.PHONY: setup demo test lit pytest bench bench-quick bench-layers clean

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

# Side-by-side benchmarks against the peer engines (installed into .bench/ by tools/bench_setup.sh).
bench: setup
	bash tools/bench_setup.sh
	nice -n 10 .venv/bin/bcr-bench --full --out .bench/results-full --docs

bench-quick: setup
	.venv/bin/bcr-bench --quick --out .bench/results-quick

# The compiler's per-layer ratio goals (sparse vs IREE dense, same run).
bench-layers: setup
	.venv/bin/python tools/bench_layers.py --suite all --out bench/layers

clean:
	rm -rf build test/lit/*/Output .pytest_cache
