// RUN: bcr-opt --list-passes | FileCheck %s --check-prefix=LIST
// LIST: bcr-raise-sparse-layers
// LIST: bcr-compress-weights
// LIST: bcr-lower-to-kernels
// LIST: bcr-sparsify-pipeline

// Reads stdin, writes -o.
// RUN: bcr-opt -o %t.out < %s
// RUN: FileCheck %s --check-prefix=ROUNDTRIP < %t.out
// ROUNDTRIP: "bcr.sparse_matmul"

// RUN: not bcr-opt %t.does-not-exist 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: no such file: {{.*}}does-not-exist
// MISSING-NEXT: fix: check the path

// RUN: not bcr-opt %s -p bcr-frobnicate 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: unknown pass 'bcr-frobnicate'
// UNKNOWN-NEXT: fix: run `bcr-opt --list-passes` to see the passes

// RUN: not bcr-opt %s -p 'bcr-raise-sparse-layers{min-macs=lots}' 2>&1 | FileCheck %s --check-prefix=BADVALUE
// BADVALUE: error: option 'min-macs' of pass 'bcr-raise-sparse-layers' expects a int, got 'lots'

// RUN: not bcr-opt %s -p 'bcr-raise-sparse-layers{speed=11}' 2>&1 | FileCheck %s --check-prefix=BADOPTION
// BADOPTION: error: pass 'bcr-raise-sparse-layers' has no option 'speed'
// BADOPTION-NEXT: fix: its options are: analyze-only, min-macs, min-speedup

// A failing pass names itself, saves the IR, prints a repro command and leaves no output file.
// RUN: not bcr-opt %s --target vulkan -p 'bcr-compress-weights,bcr-lower-to-kernels' -o %t.failed 2>&1 | FileCheck %s --check-prefix=FAIL
// FAIL: error: pass 'bcr-lower-to-kernels' failed: bcr-lower-to-kernels generates CPU kernels, but the target is vulkan
// FAIL-NEXT: fix: use bcr-densify for GPU targets
// FAIL-NEXT: reproduce with: bcr-opt -p bcr-lower-to-kernels {{.*}}bcr-failure-{{.*}}.mlir
// RUN: %PYTHON -c "import os, sys; sys.exit(os.path.exists(sys.argv[1]))" %t.failed

// RUN: not bcr-opt %s -p 'canonicalize,bcr-raise-sparse-layers(' 2>&1 | FileCheck %s --check-prefix=BRACKETS
// BRACKETS: error: unbalanced brackets in pass pipeline

func.func @f(%x: tensor<1x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]]> : tensor<1x16xf32>
  %wb = arith.constant dense<0.0> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %wb, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
