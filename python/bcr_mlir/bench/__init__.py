"""bcr-bench: side-by-side benchmarks of bcr-mlir against the engines users would pick instead.

Everything runs on this CPU in one run, engines interleaved round-robin, so the ratios are fair.
The pieces:
  models   -- the benchmark models (from bcr_mlir.zoo) and the pruning each one gets
  csr      -- the papers' torch.sparse CSR baseline (im2col + CSR matmul, CSR GRU gates)
  convert  -- ONNX / TorchScript exports and the peer engines' converters, cached under .bench/cache
  worker   -- one process per (engine, thread count) that loads a model and times calls on request
  iree     -- bcr-mlir sparse and IREE dense modules, timed by iree-benchmark-module
  run      -- the orchestration: compile, convert, interleave, check outputs, collect memory
  report   -- results.json, results.md, the goals
  plots    -- PNG bar charts

This package imports nothing heavy at import time; `bcr_mlir.bench.worker` runs in the peers'
own virtual environments and imports nothing from bcr_mlir unless it hosts a torch engine.
"""
