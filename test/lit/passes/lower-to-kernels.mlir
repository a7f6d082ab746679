// RUN: bcr-opt %s --target arm64-android -p 'bcr-compress-weights,bcr-lower-to-kernels' | FileCheck %s
// RUN: bcr-opt %s --target arm64-android -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-compress-weights,bcr-lower-to-kernels' | FileCheck %s --check-prefix=BLOCKS
// arm64 (128-bit NEON, 4 lanes of f32) keeps the generated code independent of the host running the test.

// A batch-4 linear layer: lanes run over the 8 rows of a block-row, one accumulator per input row.
// CHECK-LABEL: func.func @linear
// CHECK: "bcr.dispatch"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {kernel = @bcr_kernel_fc1, layer = "fc1", workgroups = array<i64: 2, 1, 1>}
// CHECK-SAME: (tensor<4x32xf32>, tensor<16xf32>, tensor<16xi32>, tensor<3xi32>, tensor<6xi32>, tensor<6x8xf32>) -> tensor<4x16xf32>
func.func @linear(%x: tensor<4x32xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %w = arith.constant dense<[[0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 1.25, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.50, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x32xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc1", layout = #bcr.bcr_layout<array<i64: 16, 32>, array<i64: 8, 16>, array<i64: 8, 8, 8, 0>, array<i64: 2, 2, 2, 0>>} : (tensor<4x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// A stride-2 conv: the input is phase-split so that each vector load reads 4 consecutive outputs' taps,
// and every input vector feeds the 8 rows of the block-row. Column (ci, kh, kw) starts at
// ci*100 + kh*10 + (kw % 2)*5 + kw / 2 in the [1, 2, 10, 2, 5] phase-split input.
// CHECK-LABEL: func.func @conv
// CHECK: %[[SPLIT:.*]] = call @bcr_phase_split(%{{.*}}) : (tensor<1x2x10x10xf32>) -> tensor<1x2x10x2x5xf32>
// CHECK: %[[OFFSETS:.*]] = arith.constant dense<[1, 15, 105, 115]> : tensor<4xi32>
// CHECK: "bcr.dispatch"(%[[SPLIT]], %{{.*}}, %{{.*}}, %{{.*}}, %[[OFFSETS]], %{{.*}}) {kernel = @bcr_kernel_conv1, layer = "conv1", workgroups = array<i64: 1, 2, 1>}
func.func @conv(%x: tensor<1x2x10x10xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "relu6", dilations = array<i64: 1, 1>, layer = "conv1", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, strides = array<i64: 2, 2>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}


// The next conv's zero padding is folded into the kernel: it writes the padded 10x10 tensor, interior
// and zero border, so the tensor.pad disappears.
// CHECK-LABEL: func.func @conv_then_pad
// CHECK-NOT: tensor.pad
// CHECK: "bcr.dispatch"{{.*}} -> tensor<1x8x10x10xf32>
// CHECK-NOT: tensor.pad
func.func @conv_then_pad(%x: tensor<1x2x10x10xf32>, %b: tensor<8xf32>) -> tensor<1x8x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "relu", dilations = array<i64: 1, 1>, layer = "conv2", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, strides = array<i64: 1, 1>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  %p = tensor.pad %0 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x8x8xf32> to tensor<1x8x10x10xf32>
  return %p : tensor<1x8x10x10xf32>
}


// A small "same" conv scheduled as tap segments (vector_axis 4): the kernel reads the unpadded 4x4 input,
// so the tensor.pad goes; the block-row's columns are regrouped by tap (9 segments + 1 bound).
// CHECK-LABEL: func.func @conv_by_tap
// CHECK-NOT: tensor.pad
// Columns 2, 4, 10, 13 = (ci, tap) (0, 2), (0, 4), (1, 1), (1, 4) in tap order, each at its offset in the
// unpadded input: ci*16 + (kh - 1)*4 + (kw - 1).
// CHECK: arith.constant dense<[12, -3, 0, 16]> : tensor<4xi32>
// CHECK: "bcr.dispatch"(%arg0, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {kernel = @bcr_kernel_conv3, layer = "conv3", workgroups = array<i64: 1, 1, 1>}
// CHECK-SAME: (tensor<1x2x4x4xf32>, tensor<8xf32>, tensor<8xi32>, tensor<10xi32>
func.func @conv_by_tap(%x: tensor<1x2x4x4xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%p, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv3", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, schedule = #bcr.schedule<4 : i64, 8 : i64, array<i64: 4, 4>, 1 : i64, 4 : i64>, strides = array<i64: 1, 1>} : (tensor<1x2x6x6xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// A stride-2 conv scheduled as deinterleaved loads (vector_axis 6): no phase split; the kernel reads the
// padded input directly (column (ci, kh, kw) at ci*100 + kh*10 + kw).
// CHECK-LABEL: func.func @conv_strided_loads
// CHECK-NOT: bcr_phase_split
// CHECK: arith.constant dense<[2, 11, 101, 111]> : tensor<4xi32>
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_kernel_conv4
func.func @conv_strided_loads(%x: tensor<1x2x10x10xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv4", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, schedule = #bcr.schedule<4 : i64, 8 : i64, array<i64: 1, 1>, 1 : i64, 6 : i64>, strides = array<i64: 2, 2>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// A stride-2 conv scheduled as tap segments in tiles of 2 output rows: the kernel reads the unpadded 8x8
// input (the tensor.pad goes), column (ci, tap) at ci*64 + (kh - 1)*8 + (kw - 1), in tap order.
// CHECK-LABEL: func.func @conv_strided_by_tap
// CHECK-NOT: tensor.pad
// CHECK: arith.constant dense<[56, -7, 0, 64]> : tensor<4xi32>
// CHECK: "bcr.dispatch"(%arg0, {{.*}}) {kernel = @bcr_kernel_conv5, layer = "conv5", workgroups = array<i64: 1, 2, 1>}
func.func @conv_strided_by_tap(%x: tensor<1x2x8x8xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x8x8xf32> to tensor<1x2x10x10xf32>
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%p, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv5", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, schedule = #bcr.schedule<4 : i64, 8 : i64, array<i64: 2, 0>, 1 : i64, 4 : i64>, strides = array<i64: 2, 2>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// The same conv as tap segments over the input split into its 4 stride-2 phases (vector axis 7): the
// dispatch reads a [1, 2, 2, 2, 4, 4] copy (channel, row phase, column phase, 4x4 plane) and the kernel
// is the stride-1 one over the planes: tap (kh, kw) reads phase ((kh - 1) % 2, (kw - 1) % 2) at plane
// offset ((kh - 1) // 2, (kw - 1) // 2), so column (ci, tap) starts at (ci*4 + phase)*16 + that offset.
// CHECK-LABEL: func.func @conv_phases_by_tap
// CHECK-NOT: tensor.pad
// CHECK: %[[PHASES:.*]] = call @bcr_phase_split{{.*}}(%arg0) : (tensor<1x2x8x8xf32>) -> tensor<1x2x2x2x4x4xf32>
// CHECK: arith.constant dense<[92, 44, 0, 64]> : tensor<4xi32>
// CHECK: "bcr.dispatch"(%[[PHASES]], {{.*}}) {kernel = @bcr_kernel_conv6, layer = "conv6", workgroups = array<i64: 1, 1, 1>}
func.func @conv_phases_by_tap(%x: tensor<1x2x8x8xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x8x8xf32> to tensor<1x2x10x10xf32>
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%p, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv6", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, schedule = #bcr.schedule<4 : i64, 8 : i64, array<i64: 4, 0>, 1 : i64, 7 : i64>, strides = array<i64: 2, 2>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// A batch-1 linear (a matrix-vector product) with 2 accumulator sets (tile[2] = 2): the main loop takes
// 2 columns per step into independent accumulators, one starting at the bias and one at zero, so two FMA
// chains are in flight; the sets are summed before the tail loop takes the odd column.
// CHECK-LABEL: func.func @linear_sets
// CHECK: "bcr.dispatch"({{.*}}) {kernel = @bcr_kernel_fc2, layer = "fc2", workgroups = array<i64: 2, 1, 1>}
func.func @linear_sets(%x: tensor<1x32xf32>, %b: tensor<16xf32>) -> tensor<1x16xf32> {
  %w = arith.constant dense<[[0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 1.25, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.50, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x32xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc2", layout = #bcr.bcr_layout<array<i64: 16, 32>, array<i64: 8, 16>, array<i64: 8, 8, 8, 0>, array<i64: 2, 2, 2, 0>>, schedule = #bcr.schedule<8 : i64, 8 : i64, array<i64: 1, 1, 2>, 1 : i64, 1 : i64>} : (tensor<1x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<1x16xf32>
  return %0 : tensor<1x16xf32>
}

// A matrix-vector product of 256 rows (32 block-rows of 8) and one packed column per block-row: each
// workgroup runs 2 consecutive block-rows (blocks_per_workgroup), which keeps 16 workgroups; the IREE
// hand-off gives the executable a grid of 16 and loops over the 2 inside it.
// CHECK-LABEL: func.func @matvec_blocks
// CHECK: "bcr.dispatch"({{.*}}) {blocks_per_workgroup = 2 : i64, kernel = @bcr_kernel_fc3, layer = "fc3", workgroups = array<i64: 32, 1, 1>}
func.func @matvec_blocks(%x: tensor<1x16xf32>, %b: tensor<256xf32>) -> tensor<1x256xf32> {
  %rows = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255]> : tensor<256xi32>
  %off = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]> : tensor<33xi32>
  %idx = arith.constant dense<[0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9, 0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9]> : tensor<32xi32>
  %val = arith.constant dense<0.5> : tensor<32x8xf32>
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc3", layout = #bcr.bcr_layout<array<i64: 256, 16>, array<i64: 8, 16>, array<i64: 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8>, array<i64: 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1>>} : (tensor<1x16xf32>, tensor<256xf32>, tensor<256xi32>, tensor<33xi32>, tensor<32xi32>, tensor<32x8xf32>) -> tensor<1x256xf32>
  return %0 : tensor<1x256xf32>
}

// The matmul kernel: workgroup ids first, then one memref per dispatch operand and the output.
// CHECK: func.func private @bcr_kernel_fc1(%{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<128xf32>, %{{.*}}: memref<16xf32>, %{{.*}}: memref<16xi32>, %{{.*}}: memref<3xi32>, %{{.*}}: memref<6xi32>, %{{.*}}: memref<6x8xf32>, %{{.*}}: memref<64xf32>)
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: vector.load {{.*}} : memref<6x8xf32>, vector<8xf32>
// CHECK-COUNT-4: vector.fma
// CHECK: arith.maximumf
// CHECK: vector.store

// The conv kernel: a tile of 2 output rows x 4 lanes for 8 filters = 16 accumulators; per packed
// column, 2 input loads each feed 8 filters.
// CHECK: func.func private @bcr_kernel_conv1({{.*}} memref<200xf32>
// CHECK: iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2: vector.load {{.*}} : memref<200xf32>, vector<4xf32>
// CHECK-COUNT-16: vector.fma
// CHECK: arith.minimumf

// The phase split: pad the width to a multiple of the stride, then put each phase's columns together.
// CHECK: func.func private @bcr_phase_split
// CHECK: linalg.transpose {{.*}} permutation = [0, 1, 2, 4, 3]

// The tap-segment kernel: one loop per tap over that tap's columns; each vector is one output row here.
// Tap (0, 0) skips row 0 (it reads padding only) and masks lane ow = 0 of the other three; tap (0, 1)
// needs no mask; tap (0, 2) masks ow = 3.
// CHECK: func.func private @bcr_kernel_conv3({{.*}} memref<32xf32>
// CHECK: arith.constant dense<[false, true, true, true]> : vector<4xi1>
// CHECK: scf.for
// CHECK-COUNT-3: vector.maskedload
// CHECK: scf.for
// CHECK-COUNT-3: vector.load {{.*}} : memref<32xf32>, vector<4xf32>
// CHECK: arith.constant dense<[true, true, true, false]> : vector<4xi1>

// The strided-load kernel: two loads per vector of 4 outputs, even lanes kept.
// CHECK: func.func private @bcr_kernel_conv4({{.*}} memref<200xf32>
// CHECK: vector.shuffle {{.*}} [0, 2, 4, 6] : vector<4xf32>, vector<4xf32>

// The stride-2 tap-segment kernel: each output row is one vector, two masked loads (input lanes
// 2i of 8) and an even-lane shuffle; tap (0, 0) masks the input column before the row, the last odd
// lane is never needed; a tile row reading above the image is masked off at run time.
// CHECK: func.func private @bcr_kernel_conv5({{.*}} memref<128xf32>
// CHECK: arith.constant dense<[false, true, true, true]> : vector<4xi1>
// CHECK: arith.constant dense<[true, true, true, false]> : vector<4xi1>
// CHECK: arith.select {{.*}} : vector<4xi1>
// CHECK: scf.for
// CHECK-COUNT-2: vector.maskedload
// CHECK: vector.shuffle {{.*}} [0, 2, 4, 6] : vector<4xf32>, vector<4xf32>

// The phase-split tap-segment kernel: 4 vectors of 4 lanes (one per output row), unit-stride loads;
// tap (0, 1) reads the plane row above, so its first vector (output row 0) is skipped.
// CHECK: func.func private @bcr_kernel_conv6({{.*}} memref<128xf32>
// CHECK: scf.for
// CHECK-COUNT-3: vector.load {{.*}} : memref<128xf32>, vector<4xf32>
// CHECK-NOT: vector.shuffle
// CHECK: func.func private @bcr_phase_split
// CHECK: linalg.transpose {{.*}} permutation = [0, 1, 3, 5, 2, 4]

// The 2-set matrix-vector kernel of @linear_sets.
// CHECK: func.func private @bcr_kernel_fc2
// CHECK: %[[BIAS:.*]] = vector.load %arg4[%{{.*}}] : memref<16xf32>, vector<8xf32>
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK: %[[SETS:.*]]:2 = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c2 iter_args(%{{.*}} = %[[BIAS]], %{{.*}} = %[[ZERO]])
// CHECK-COUNT-2: vector.fma
// CHECK: scf.yield
// CHECK: %[[SUM:.*]] = arith.addf %[[SETS]]#0, %[[SETS]]#1 : vector<8xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1 iter_args(%{{.*}} = %[[SUM]])
// CHECK: vector.store

// A depthwise conv of 64 channels is 64 block-rows of one channel: each workgroup runs 4 consecutive
// channels (blocks_per_workgroup), which keeps 16 workgroups. At 2 threads IREE's hand-out of thousands
// of such one-channel workgroups cost MobileNet-V2 more than its kernels.
// BLOCKS-LABEL: func.func @depthwise_blocks
// BLOCKS: "bcr.dispatch"({{.*}}) {blocks_per_workgroup = 4 : i64, kernel = @bcr_kernel_dw, layer = "dw", workgroups = array<i64: 64, 1, 1>}
func.func @depthwise_blocks(%x: tensor<1x64x6x6xf32>) -> tensor<1x64x4x4xf32> {
  %c = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<64x3x3xf32> loc("dw")
  %0 = tensor.empty() : tensor<1x64x4x4xf32>
  %1 = linalg.fill ins(%c : f32) outs(%0 : tensor<1x64x4x4xf32>) -> tensor<1x64x4x4xf32>
  %2 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x64x6x6xf32>, tensor<64x3x3xf32>) outs(%1 : tensor<1x64x4x4xf32>) -> tensor<1x64x4x4xf32>
  return %2 : tensor<1x64x4x4xf32>
}
