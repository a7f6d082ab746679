// RUN: bcr-opt %s -p 'bcr-compress-weights,bcr-fuse-gate-cells' | FileCheck %s
// RUN: bcr-opt %s --target arm64-android -p 'bcr-compress-weights,bcr-fuse-gate-cells,bcr-lower-to-kernels' | FileCheck %s --check-prefix=KERNEL
// RUN: bcr-opt %s --target vulkan -p 'bcr-compress-weights,bcr-fuse-gate-cells' | FileCheck %s --check-prefix=VULKAN
// RUN: not bcr-opt %s -p 'bcr-compress-weights,bcr-fuse-gate-cells,bcr-densify' 2>&1 | FileCheck %s --check-prefix=DENSIFY
// A pass that cannot lower a fused cell says so instead of dropping it.
// DENSIFY: error: pass 'bcr-densify' failed: layer 'cell.hh' and its gate cell are fused into one bcr.packed_gate_cell
// DENSIFY-NEXT: fix: run bcr-fuse-gate-cells only in CPU pipelines

#id = affine_map<(d0, d1) -> (d0, d1)>

// Two gates of 8 features: out = sigmoid(gate 0) * tanh(gate 1 + c). The slices and the three generics
// become one bcr.packed_gate_cell whose cell function takes the two gates, then c (flattened to 1-D).
// CHECK-LABEL: func.func @cell
// CHECK-NOT: linalg.generic
// CHECK: %[[C:.*]] = tensor.collapse_shape %arg2 {{\[\[}}0, 1]] : tensor<1x8xf32> into tensor<8xf32>
// CHECK: %[[Y:.*]] = "bcr.packed_gate_cell"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C]]) {cell = @bcr_cell_cell_hh, gates = 2 : i64, layer = "cell.hh"
// CHECK-SAME: -> tensor<1x8xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
// The kernel: per workgroup one 8-row block of each gate (block-rows %wg0 and %wg0 + 1), then the cell
// on vectors, one store; the cell function is gone.
// KERNEL-LABEL: func.func @cell
// KERNEL: "bcr.dispatch"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {kernel = @bcr_kernel_cell_hh, layer = "cell.hh", workgroups = array<i64: 1, 1, 1>}
// KERNEL-NOT: func.func private @bcr_cell_cell_hh
// KERNEL: func.func private @bcr_kernel_cell_hh({{.*}}, %[[CELL:.*]]: memref<8xf32>, %[[OUT:.*]]: memref<8xf32>)
// KERNEL: vector.fma
// KERNEL: vector.fma
// KERNEL: %[[CV:.*]] = vector.load %[[CELL]][%{{.*}}] : memref<8xf32>, vector<8xf32>
// KERNEL: math.exp %{{.*}} : vector<8xf32>
// KERNEL: math.tanh %{{.*}} : vector<8xf32>
// KERNEL: %[[R:.*]] = arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// KERNEL: vector.store %[[R]], %[[OUT]]
// VULKAN-LABEL: func.func @cell
// VULKAN: "bcr.packed_matmul"
// VULKAN: linalg.generic
func.func @cell(%x: tensor<1x16xf32>, %b: tensor<16xf32>, %c: tensor<1x8xf32>) -> (tensor<1x8xf32>) {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 0.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, -0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, -0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, -0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.25, 0.00, 0.00, 0.00, -0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.50, 0.00, 0.00, 0.00, -0.625, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.75, 0.00, 0.00, 0.00, -0.750, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.00, 0.00, 0.00, 0.00, -0.875, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.25, 0.00, 0.00, 0.00, -1.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.50, 0.00, 0.00, 0.00, -1.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.75, 0.00, 0.00, 0.00, -1.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 4.00, 0.00, 0.00, 0.00, -1.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<16x16xf32>
  %y = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "cell.hh", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<1x16xf32>
  %g0 = tensor.extract_slice %y[0, 0] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %g1 = tensor.extract_slice %y[0, 8] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%g0 : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g1, %c : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %a = arith.addf %in, %in2 : f32
    %h = math.tanh %a : f32
    linalg.yield %h : f32
  } -> tensor<1x8xf32>
  %out = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %t : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<1x8xf32>
  return %out : tensor<1x8xf32>
}

// Two results used after the cell (an LSTM's c and h): one op with two results, in the order of the
// steps that compute them (tanh first).
// CHECK-LABEL: func.func @two_outputs
// CHECK-NOT: linalg.generic
// CHECK: %[[Y2:.*]]:2 = "bcr.packed_gate_cell"
// CHECK: return %[[Y2]]#1, %[[Y2]]#0
func.func @two_outputs(%x: tensor<1x16xf32>, %b: tensor<16xf32>, %c: tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 0.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, -0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, -0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, -0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.25, 0.00, 0.00, 0.00, -0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.50, 0.00, 0.00, 0.00, -0.625, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.75, 0.00, 0.00, 0.00, -0.750, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.00, 0.00, 0.00, 0.00, -0.875, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.25, 0.00, 0.00, 0.00, -1.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.50, 0.00, 0.00, 0.00, -1.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.75, 0.00, 0.00, 0.00, -1.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 4.00, 0.00, 0.00, 0.00, -1.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<16x16xf32>
  %y = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "two_outputs.hh", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<1x16xf32>
  %g0 = tensor.extract_slice %y[0, 0] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %g1 = tensor.extract_slice %y[0, 8] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%g0 : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g1, %c : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %a = arith.addf %in, %in2 : f32
    %h = math.tanh %a : f32
    linalg.yield %h : f32
  } -> tensor<1x8xf32>
  %out = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %t : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<1x8xf32>
  return %out, %t : tensor<1x8xf32>, tensor<1x8xf32>
}

// An elementwise op on the whole matmul output before the slices (an LSTM adds its input projection to
// all four gates at once) runs in the cell once per gate; its other input enters as one run per gate.
// CHECK-LABEL: func.func @whole_output_first
// CHECK-NOT: linalg.generic
// CHECK: %[[P:.*]] = tensor.collapse_shape %arg3 {{\[\[}}0, 1]] : tensor<1x16xf32> into tensor<16xf32>
// CHECK: %[[P0:.*]] = tensor.extract_slice %[[P]][0] [8] [1] : tensor<16xf32> to tensor<8xf32>
// CHECK: %[[P1:.*]] = tensor.extract_slice %[[P]][8] [8] [1] : tensor<16xf32> to tensor<8xf32>
// CHECK: "bcr.packed_gate_cell"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[P0]], %[[P1]], %{{.*}})
func.func @whole_output_first(%x: tensor<1x16xf32>, %b: tensor<16xf32>, %c: tensor<1x8xf32>, %proj: tensor<1x16xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 0.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, -0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, -0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, -0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.25, 0.00, 0.00, 0.00, -0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.50, 0.00, 0.00, 0.00, -0.625, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.75, 0.00, 0.00, 0.00, -0.750, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.00, 0.00, 0.00, 0.00, -0.875, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.25, 0.00, 0.00, 0.00, -1.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.50, 0.00, 0.00, 0.00, -1.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.75, 0.00, 0.00, 0.00, -1.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 4.00, 0.00, 0.00, 0.00, -1.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<16x16xf32>
  %y = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "whole.hh", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<1x16xf32>
  %ew = tensor.empty() : tensor<1x16xf32>
  %yp = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %proj : tensor<1x16xf32>, tensor<1x16xf32>) outs(%ew : tensor<1x16xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %a = arith.addf %in, %in2 : f32
    linalg.yield %a : f32
  } -> tensor<1x16xf32>
  %g0 = tensor.extract_slice %yp[0, 0] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %g1 = tensor.extract_slice %yp[0, 8] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%g0 : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g1, %c : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %a = arith.addf %in, %in2 : f32
    %h = math.tanh %a : f32
    linalg.yield %h : f32
  } -> tensor<1x8xf32>
  %out = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %t : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<1x8xf32>
  return %out, %t : tensor<1x8xf32>, tensor<1x8xf32>
}

// Three results used after the cell: more than an LSTM's two, left as it is.
// CHECK-LABEL: func.func @three_outputs
// CHECK: "bcr.packed_matmul"
// CHECK: linalg.generic
// CHECK-NOT: bcr.packed_gate_cell
func.func @three_outputs(%x: tensor<1x16xf32>, %b: tensor<16xf32>, %c: tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x8xf32>) {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 0.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, -0.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, -0.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, -0.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.25, 0.00, 0.00, 0.00, -0.500, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.50, 0.00, 0.00, 0.00, -0.625, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.75, 0.00, 0.00, 0.00, -0.750, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.00, 0.00, 0.00, 0.00, -0.875, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.25, 0.00, 0.00, 0.00, -1.000, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.50, 0.00, 0.00, 0.00, -1.125, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 3.75, 0.00, 0.00, 0.00, -1.250, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 4.00, 0.00, 0.00, 0.00, -1.375, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<16x16xf32>
  %y = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "three.hh", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<1x16xf32>
  %g0 = tensor.extract_slice %y[0, 0] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %g1 = tensor.extract_slice %y[0, 8] [1, 8] [1, 1] : tensor<1x16xf32> to tensor<1x8xf32>
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%g0 : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g1, %c : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %a = arith.addf %in, %in2 : f32
    %h = math.tanh %a : f32
    linalg.yield %h : f32
  } -> tensor<1x8xf32>
  %out = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %t : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<1x8xf32>
  return %out, %t, %s : tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x8xf32>
}

// The first function's cell, one scalar function at the end of the module: the gates first, then the cell inputs.
// CHECK: func.func private @bcr_cell_cell_hh(%[[G0:.*]]: f32, %[[G1:.*]]: f32, %[[C0:.*]]: f32) -> f32
// CHECK: arith.negf %[[G0]]
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: %[[A:.*]] = arith.addf %[[G1]], %[[C0]]
// CHECK: math.tanh %[[A]]
// CHECK: %[[M:.*]] = arith.mulf
// CHECK: return %[[M]] : f32
