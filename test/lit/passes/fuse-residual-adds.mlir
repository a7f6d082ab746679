// RUN: bcr-opt %s -p 'bcr-compress-weights,bcr-fuse-residual-adds' | FileCheck %s
// RUN: bcr-opt %s --target arm64-android -p 'bcr-compress-weights,bcr-fuse-residual-adds,bcr-lower-to-kernels' | FileCheck %s --check-prefix=KERNEL
// RUN: bcr-opt %s --target vulkan -p 'bcr-compress-weights,bcr-fuse-residual-adds' | FileCheck %s --check-prefix=VULKAN
// RUN: not bcr-opt %s --target arm64-android -p 'bcr-compress-weights,bcr-fuse-residual-adds,bcr-densify' 2>&1 | FileCheck %s --check-prefix=DENSIFY
// A pass that cannot lower a fused residual says so instead of dropping it.
// DENSIFY: error: pass 'bcr-densify' failed: layer 'fc1' adds a fused residual, which bcr-densify does not lower
// DENSIFY-NEXT: fix: run bcr-fuse-residual-adds only in CPU pipelines

#id = affine_map<(d0, d1) -> (d0, d1)>

// A layer's output plus a skip tensor, then a ReLU: the add and the ReLU move into the packed op, which
// takes the skip as its seventh operand (the residual) and the ReLU as its activation.
// CHECK-LABEL: func.func @add_then_relu
// CHECK-NOT: linalg.generic
// CHECK: %[[Y:.*]] = "bcr.packed_matmul"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %arg2) {activation = "relu"
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
// The kernel reads the residual (%res) at each output's own index and adds it before the ReLU.
// KERNEL-LABEL: func.func @add_then_relu
// KERNEL: "bcr.dispatch"(%arg0, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %arg2) {kernel = @bcr_kernel_fc1
// KERNEL: func.func private @bcr_kernel_fc1({{.*}}, %arg8: memref<2x8xf32>, %[[RES:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xf32>)
// KERNEL: %[[R:.*]] = vector.load %[[RES]][%[[AT:.*]]] : memref<16xf32>, vector<8xf32>
// KERNEL-NEXT: %[[SUM:.*]] = arith.addf %{{.*}}, %[[R]] : vector<8xf32>
// KERNEL-NEXT: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// KERNEL-NEXT: %[[ACT:.*]] = arith.maximumf %[[SUM]], %[[ZERO]] : vector<8xf32>
// KERNEL-NEXT: vector.store %[[ACT]], %[[Y]][%[[AT]]]
// VULKAN-LABEL: func.func @add_then_relu
// VULKAN: linalg.generic
// VULKAN: linalg.generic
func.func @add_then_relu(%x: tensor<2x16xf32>, %b: tensor<8xf32>, %skip: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, 2.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, 2.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc1", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%0, %skip : tensor<2x8xf32>, tensor<2x8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<2x8xf32>
  %zero = arith.constant 0.0 : f32
  %e2 = tensor.empty() : tensor<2x8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<2x8xf32>) outs(%e2 : tensor<2x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %gt = arith.cmpf ugt, %in, %zero : f32
    %v = arith.select %gt, %in, %zero : f32
    linalg.yield %v : f32
  } -> tensor<2x8xf32>
  return %r : tensor<2x8xf32>
}

// The skip on the left and no ReLU after: fused all the same, activation "none".
// CHECK-LABEL: func.func @skip_plus_layer
// CHECK-NOT: linalg.generic
// CHECK: "bcr.packed_matmul"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %arg2) {activation = "none"
func.func @skip_plus_layer(%x: tensor<2x16xf32>, %b: tensor<8xf32>, %skip: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, 2.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, 2.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc2", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%skip, %0 : tensor<2x8xf32>, tensor<2x8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<2x8xf32>
  return %s : tensor<2x8xf32>
}

// The layer's ReLU comes before the add: relu(W x) + skip is not act(W x + skip), so nothing moves.
// CHECK-LABEL: func.func @relu_before_add
// CHECK: "bcr.packed_matmul"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {activation = "relu"
// CHECK: linalg.generic
// CHECK: arith.addf
func.func @relu_before_add(%x: tensor<2x16xf32>, %b: tensor<8xf32>, %skip: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, 2.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, 2.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc3", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%0, %skip : tensor<2x8xf32>, tensor<2x8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<2x8xf32>
  return %s : tensor<2x8xf32>
}

// The layer's output is also returned: the add stays, as the plain output is still needed.
// CHECK-LABEL: func.func @output_used_twice
// CHECK: "bcr.packed_matmul"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {activation = "none"
// CHECK: linalg.generic
// CHECK: arith.addf
func.func @output_used_twice(%x: tensor<2x16xf32>, %b: tensor<8xf32>, %skip: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, 2.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, 2.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc4", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%0, %skip : tensor<2x8xf32>, tensor<2x8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<2x8xf32>
  return %s, %0 : tensor<2x8xf32>, tensor<2x8xf32>
}

// A bias-like add of a broadcast row is not a residual of the output's shape: it stays.
// CHECK-LABEL: func.func @broadcast_add
// CHECK: "bcr.packed_matmul"(%arg0, %arg1, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {activation = "none"
// CHECK: linalg.generic
func.func @broadcast_add(%x: tensor<2x16xf32>, %b: tensor<8xf32>, %row: tensor<8xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<[[0.00, 0.25, 0.00, 0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.50, 0.00, 0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.00, 0.00, 0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.25, 0.00, 0.00, 0.00, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.50, 0.00, 0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 1.75, 0.00, 0.00, 0.00, 2.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00], [0.00, 2.00, 0.00, 0.00, 0.00, 2.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc5", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %s = linalg.generic {indexing_maps = [#id, affine_map<(d0, d1) -> (d1)>, #id], iterator_types = ["parallel", "parallel"]} ins(%0, %row : tensor<2x8xf32>, tensor<8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<2x8xf32>
  return %s : tensor<2x8xf32>
}

// A Conv1d's conv of one row reaches its add through a tensor.collapse_shape ([N, F, 1, L] -> [N, F, L]):
// the skip is expanded to the conv's shape, the add and the ReLU move into it, and the result is
// collapsed back.
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @conv1d_add
// CHECK: %[[SKIP:.*]] = tensor.expand_shape %arg1 {{\[}}[0], [1], [2, 3]] output_shape [1, 8, 1, 6] : tensor<1x8x6xf32> into tensor<1x8x1x6xf32>
// CHECK: %[[Y:.*]] = "bcr.packed_conv2d"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SKIP]]) {activation = "relu"
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3]] : tensor<1x8x1x6xf32> into tensor<1x8x6xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[OUT]]
func.func @conv1d_add(%x: tensor<1x2x1x8xf32>, %skip: tensor<1x8x6xf32>) -> tensor<1x8x6xf32> {
  %w = arith.constant dense<[[[[0.0, 0.5, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 0.75, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 1.25, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 1.5, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 1.75, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 2.0, 0.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 2.25, 0.0]], [[0.0, 0.0, 0.0]]]]> : tensor<8x2x1x3xf32>
  %b = arith.constant dense<0.5> : tensor<8xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "tcn", layout = #bcr.bcr_layout<array<i64: 8, 6>, array<i64: 8, 6>, array<i64: 8>, array<i64: 1>>, strides = array<i64: 1, 1>} : (tensor<1x2x1x8xf32>, tensor<8x2x1x3xf32>, tensor<8xf32>) -> tensor<1x8x1x6xf32>
  %c = tensor.collapse_shape %0 [[0], [1], [2, 3]] : tensor<1x8x1x6xf32> into tensor<1x8x6xf32>
  %e = tensor.empty() : tensor<1x8x6xf32>
  %s = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%c, %skip : tensor<1x8x6xf32>, tensor<1x8x6xf32>) outs(%e : tensor<1x8x6xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %t = arith.addf %p, %q : f32
    linalg.yield %t : f32
  } -> tensor<1x8x6xf32>
  %zero = arith.constant 0.0 : f32
  %r = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<1x8x6xf32>) outs(%e : tensor<1x8x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %gt = arith.cmpf ugt, %in, %zero : f32
    %v = arith.select %gt, %in, %zero : f32
    linalg.yield %v : f32
  } -> tensor<1x8x6xf32>
  return %r : tensor<1x8x6xf32>
}
