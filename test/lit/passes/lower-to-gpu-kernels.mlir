// RUN: bcr-opt %s --target vulkan -p 'bcr-compress-weights,bcr-lower-to-gpu-kernels' | FileCheck %s
// RUN: bcr-opt %s --target vulkan:adreno -p 'bcr-compress-weights,bcr-lower-to-gpu-kernels,bcr-densify' | FileCheck %s --check-prefix=FALLBACK
// RUN: not bcr-opt %s --target arm64-android -p 'bcr-compress-weights,bcr-lower-to-gpu-kernels' 2>&1 | FileCheck %s --check-prefix=CPU

// Each packed layer becomes a bcr.dispatch of a private declaration carrying its GLSL shader. The
// GLSL is one escaped string (\0A is a newline); the checks below follow it through CHECK-SAME.

// A stride-2 conv with a constant bias and ReLU6. It binds 3 buffers: input, the parameter block
// (operand slot 5) and the output. The block holds the group offsets [0, 4], the 8 biases (0.5 is
// 1056964608 as bits) and then one record of 9 words per packed column: its input offset in the
// [1, 2, 10, 10] input, then its 8 weights. Column (ci, kh, kw) starts at ci*100 + kh*10 + kw: the
// 4 kept columns start at 2, 11, 101 and 111. 16 output positions: one workgroup of 16 x 1, each
// invocation one position x 8 rows, position (oh, ow) reading at oh*20 + ow*2.
// CHECK-LABEL: func.func @conv(
// CHECK: %[[PARAMS:.*]] = arith.constant dense<[0, 4, 1056964608, -1090519040, 1048576000, -1098907648, 1065353216, -1082130432, 1073741824, -1073741824, 2, {{.*}}, 11, {{.*}}, 101, {{.*}}, 111, {{.*}}]> : tensor<46xi32>
// CHECK: "bcr.dispatch"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[PARAMS]]) {kernel = @bcr_gpu_conv1, layer = "conv1", workgroups = array<i64: 1, 1, 1>}
// CHECK-SAME: (tensor<1x2x10x10xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<4xi32>, tensor<46xi32>) -> tensor<1x8x4x4xf32>
func.func @conv(%x: tensor<1x2x10x10xf32>) -> tensor<1x8x4x4xf32> {
  %b = arith.constant dense<[0.5, -0.5, 0.25, -0.25, 1.0, -1.0, 2.0, -2.0]> : tensor<8xf32>
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "relu6", dilations = array<i64: 1, 1>, layer = "conv1", layout = #bcr.bcr_layout<array<i64: 8, 18>, array<i64: 8, 16>, array<i64: 8, 0>, array<i64: 4, 0>>, strides = array<i64: 2, 2>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// A batch-4 linear layer whose bias is an argument, not a constant: the bias gets its own binding
// (slot 1), 4 in all. The 4 positions (input rows) x 2 row groups fill one 4 x 2 workgroup; row m of
// the input starts at m*32, output (m, row) is at m*16 + row.
// CHECK-LABEL: func.func @linear
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_fc1, layer = "fc1", workgroups = array<i64: 1, 1, 1>
// CHECK-SAME: -> tensor<4x16xf32>
func.func @linear(%x: tensor<4x32xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %w = arith.constant dense<[[0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 1.25, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.50, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x32xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc1", layout = #bcr.bcr_layout<array<i64: 16, 32>, array<i64: 8, 16>, array<i64: 8, 8, 8, 0>, array<i64: 2, 2, 2, 0>>} : (tensor<4x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// PatDNN patterns in the filter order of bcr-reorder-filters, in groups of 4 rows: the parameter
// block carries the row map after the 3 group offsets (the bias is an argument, so it is bound), and
// packed row k stores to output row p[3 + k].
// CHECK-LABEL: func.func @patterns
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_conv_p, layer = "conv_p", workgroups = array<i64: 1, 2, 1>
func.func @patterns(%x: tensor<1x2x10x10xf32>, %b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  %w = arith.constant dense<[[[[0.0, 2.0, 0.0], [3.0, 4.0, 5.0], [0.0, 0.0, 0.0]], [[0.0, 6.0, 0.0], [7.0, 1.0, 2.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [4.0, 5.0, 6.0]], [[0.0, 0.0, 0.0], [0.0, 7.0, 0.0], [1.0, 2.0, 3.0]]], [[[0.0, 4.0, 0.0], [5.0, 6.0, 7.0], [0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 5.0, 0.0], [6.0, 7.0, 1.0]], [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 5.0]]], [[[0.0, 6.0, 0.0], [7.0, 1.0, 2.0], [0.0, 0.0, 0.0]], [[0.0, 3.0, 0.0], [4.0, 5.0, 6.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 7.0, 0.0], [1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0], [0.0, 4.0, 0.0], [5.0, 6.0, 7.0]]], [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]], [[0.0, 5.0, 0.0], [6.0, 7.0, 1.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 5.0]], [[0.0, 0.0, 0.0], [0.0, 6.0, 0.0], [7.0, 1.0, 2.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv_p", layout = #bcr.pattern_layout<array<i64: 8, 2>, array<i64: 3, 3>, array<i64: 58, 464>, 16 : i64>, row_order = array<i64: 0, 2, 4, 6, 1, 3, 5, 7>, schedule = #bcr.schedule<0 : i64, 4 : i64, array<i64: 0, 0>, 1 : i64, 0 : i64>, strides = array<i64: 1, 1>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// Ragged on both axes: 20 rows in groups of 8 (the last group's 4 padding rows are never stored) and
// 25 output positions in a 32-wide workgroup (the 7 extra invocations compute on position 24 and
// store nothing). A 32 x 2 workgroup takes two row groups: grid 1 x 2 x (2 images).
// CHECK-LABEL: func.func @ragged
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_ragged, layer = "ragged", workgroups = array<i64: 1, 2, 2>
func.func @ragged(%x: tensor<2x1x7x7xf32>) -> tensor<2x20x5x5xf32> {
  %b = arith.constant dense<0.125> : tensor<20xf32>
  %w = arith.constant dense<[[[[0.00, 0.00, 0.00], [1.50, 0.50, 0.00], [1.75, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [0.75, 0.50, 0.00], [1.75, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [0.50, 0.75, 0.00], [1.50, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [0.75, 0.50, 0.00], [1.25, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [0.25, 1.00, 0.00], [0.25, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [1.50, 1.75, 0.00], [1.50, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [1.50, 1.00, 0.00], [0.75, 0.00, 0.00]]], [[[0.00, 0.00, 0.00], [1.50, 1.00, 0.00], [0.25, 0.00, 0.00]]], [[[0.75, 0.00, 0.75], [0.00, 1.75, 0.00], [0.00, 0.00, 0.00]]], [[[0.50, 0.00, 1.00], [0.00, 0.50, 0.00], [0.00, 0.00, 0.00]]], [[[0.25, 0.00, 1.50], [0.00, 0.25, 0.00], [0.00, 0.00, 0.00]]], [[[0.50, 0.00, 1.00], [0.00, 1.00, 0.00], [0.00, 0.00, 0.00]]], [[[0.25, 0.00, 1.75], [0.00, 1.50, 0.00], [0.00, 0.00, 0.00]]], [[[1.75, 0.00, 0.25], [0.00, 1.50, 0.00], [0.00, 0.00, 0.00]]], [[[0.75, 0.00, 1.00], [0.00, 1.75, 0.00], [0.00, 0.00, 0.00]]], [[[0.50, 0.00, 1.50], [0.00, 0.50, 0.00], [0.00, 0.00, 0.00]]], [[[0.00, 0.00, 0.75], [0.25, 0.00, 0.00], [0.00, 1.25, 0.00]]], [[[0.00, 0.00, 1.50], [1.00, 0.00, 0.00], [0.00, 0.75, 0.00]]], [[[0.00, 0.00, 1.50], [1.25, 0.00, 0.00], [0.00, 1.75, 0.00]]], [[[0.00, 0.00, 0.25], [0.75, 0.00, 0.00], [0.00, 1.50, 0.00]]]]> : tensor<20x1x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "relu", dilations = array<i64: 1, 1>, layer = "ragged", layout = #bcr.bcr_layout<array<i64: 20, 9>, array<i64: 8, 9>, array<i64: 8, 8, 4>, array<i64: 3, 3, 3>>, strides = array<i64: 1, 1>} : (tensor<2x1x7x7xf32>, tensor<20x1x3x3xf32>, tensor<20xf32>) -> tensor<2x20x5x5xf32>
  return %0 : tensor<2x20x5x5xf32>
}

// A conv3d: the output position (od, oh, ow) of a 3x3x3 output reads at od*16 + oh*4 + ow in each
// 4x4x4 input channel.
// CHECK-LABEL: func.func @conv3d
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_c3, layer = "c3", workgroups = array<i64: 1, 1, 1>
func.func @conv3d(%x: tensor<1x2x4x4x4xf32>) -> tensor<1x4x3x3x3xf32> {
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %w = arith.constant dense<[[[[[0.50, 0.00], [0.00, 0.00]], [[0.00, 1.50], [0.50, 0.00]]], [[[0.00, 0.00], [0.00, 1.25]], [[0.00, 0.75], [0.00, 0.00]]]], [[[[1.25, 0.00], [0.00, 0.00]], [[0.00, 1.00], [1.50, 0.00]]], [[[0.00, 0.00], [0.00, 1.25]], [[0.00, 1.00], [0.00, 0.00]]]], [[[[0.50, 0.00], [0.00, 0.00]], [[0.00, 0.25], [1.75, 0.00]]], [[[0.00, 0.00], [0.00, 1.50]], [[0.00, 1.00], [0.00, 0.00]]]], [[[[1.50, 0.00], [0.00, 0.00]], [[0.00, 1.25], [1.50, 0.00]]], [[[0.00, 0.00], [0.00, 0.25]], [[0.00, 1.50], [0.00, 0.00]]]]]> : tensor<4x2x2x2x2xf32>
  %0 = "bcr.sparse_conv3d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1, 1>, layer = "c3", layout = #bcr.bcr_layout<array<i64: 4, 16>, array<i64: 4, 16>, array<i64: 4>, array<i64: 5>>, strides = array<i64: 1, 1, 1>} : (tensor<1x2x4x4x4xf32>, tensor<4x2x2x2x2xf32>, tensor<4xf32>) -> tensor<1x4x3x3x3xf32>
  return %0 : tensor<1x4x3x3x3xf32>
}

// A batch-1 linear layer whose groups have >= 32 packed columns (GEMV-shaped): the 64 lanes of a
// workgroup split the group's 40 columns, then tree-sum their 8 partial sums in shared memory; lane 0
// adds the bias and stores. One workgroup per row group.
// CHECK-LABEL: func.func @gemv
// CHECK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_gemv, layer = "gemv", workgroups = array<i64: 1, 1, 1>
func.func @gemv(%x: tensor<1x64xf32>) -> tensor<1x8xf32> {
  %b = arith.constant dense<[0.5, -0.5, 0.25, -0.25, 1.0, -1.0, 2.0, -2.0]> : tensor<8xf32>
  %w = arith.constant dense<[[0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 1.00, 1.75, 1.00, 0.00, 0.00, 1.25, 0.25, 1.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00, 1.00, 0.25, 1.25, 1.25, 0.75, 1.50, 0.00, 1.00, 0.00, 0.00, 0.25, 0.00, 0.50, 0.50, 0.25, 1.00, 0.00, 0.00, 0.25, 1.00, 1.25, 1.25, 1.00, 0.50, 0.00, 1.75, 0.75, 1.50, 0.00, 1.00, 0.75, 1.25, 1.75, 1.50, 0.00, 1.25, 0.25, 1.50, 0.00, 0.00, 1.50, 0.75, 0.75], [0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 1.75, 0.50, 1.00, 0.00, 0.00, 0.50, 1.50, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.50, 0.25, 0.25, 0.25, 1.50, 1.50, 0.75, 0.00, 0.25, 0.00, 0.00, 0.50, 0.00, 1.00, 1.00, 1.00, 1.25, 0.00, 0.00, 1.25, 1.25, 1.00, 1.00, 1.75, 1.50, 0.00, 1.50, 0.25, 1.25, 0.00, 1.75, 1.25, 0.50, 1.00, 1.00, 0.00, 1.75, 1.00, 0.50, 0.00, 0.00, 0.25, 1.25, 1.75], [0.00, 0.00, 1.00, 0.00, 0.00, 0.00, 0.25, 0.25, 1.50, 0.00, 0.00, 0.75, 1.00, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.50, 1.50, 0.25, 0.25, 0.25, 0.75, 1.00, 0.00, 0.25, 0.00, 0.00, 1.25, 0.00, 1.50, 1.00, 0.25, 1.50, 0.00, 0.00, 0.25, 1.00, 1.75, 0.75, 1.00, 0.50, 0.00, 0.75, 0.50, 0.25, 0.00, 1.50, 0.75, 1.75, 0.75, 1.50, 0.00, 1.00, 1.25, 0.25, 0.00, 0.00, 1.75, 0.50, 1.75], [0.00, 0.00, 0.50, 0.00, 0.00, 0.00, 1.50, 1.00, 1.50, 0.00, 0.00, 0.75, 0.50, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.25, 0.50, 1.25, 1.75, 1.00, 1.75, 0.75, 0.00, 0.25, 0.00, 0.00, 1.25, 0.00, 0.50, 1.75, 1.00, 1.75, 0.00, 0.00, 1.50, 1.25, 0.25, 1.50, 0.50, 0.25, 0.00, 1.00, 0.25, 1.25, 0.00, 1.75, 1.75, 1.75, 1.75, 0.50, 0.00, 1.50, 0.50, 0.25, 0.00, 0.00, 1.50, 1.75, 1.50], [0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 1.75, 0.25, 0.25, 0.00, 0.00, 0.50, 0.25, 1.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.25, 0.75, 1.00, 1.00, 1.25, 1.50, 1.75, 0.00, 1.50, 0.00, 0.00, 1.50, 0.00, 1.00, 1.25, 1.50, 1.00, 0.00, 0.00, 0.75, 1.50, 1.75, 0.75, 1.25, 0.25, 0.00, 1.75, 1.50, 0.25, 0.00, 0.75, 1.75, 1.25, 1.00, 0.25, 0.00, 1.25, 1.25, 0.50, 0.00, 0.00, 1.00, 1.00, 1.00], [0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 1.00, 0.25, 1.25, 0.00, 0.00, 0.25, 0.25, 1.75, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.50, 1.25, 1.00, 0.50, 1.00, 0.50, 0.50, 0.00, 1.00, 0.00, 0.00, 1.00, 0.00, 1.50, 1.00, 0.25, 0.25, 0.00, 0.00, 1.75, 0.50, 1.75, 1.25, 0.50, 1.00, 0.00, 1.25, 1.25, 0.75, 0.00, 0.75, 1.25, 1.25, 0.25, 1.50, 0.00, 1.00, 1.50, 1.25, 0.00, 0.00, 1.00, 1.25, 0.75], [0.00, 0.00, 1.25, 0.00, 0.00, 0.00, 0.75, 1.75, 1.25, 0.00, 0.00, 0.50, 1.75, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.75, 0.75, 0.75, 1.00, 0.25, 1.75, 1.50, 0.00, 1.25, 0.00, 0.00, 0.25, 0.00, 1.50, 0.75, 1.75, 1.50, 0.00, 0.00, 0.50, 0.50, 0.50, 1.25, 0.75, 1.00, 0.00, 0.75, 1.75, 1.25, 0.00, 0.25, 1.75, 0.25, 0.50, 0.50, 0.00, 1.00, 1.50, 1.25, 0.00, 0.00, 0.25, 1.00, 1.00], [0.00, 0.00, 1.75, 0.00, 0.00, 0.00, 0.50, 1.50, 1.00, 0.00, 0.00, 1.75, 1.50, 0.25, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.50, 0.50, 0.50, 0.25, 1.50, 1.50, 1.00, 0.00, 1.75, 0.00, 0.00, 1.50, 0.00, 0.25, 1.25, 1.50, 1.25, 0.00, 0.00, 1.50, 1.00, 1.75, 1.75, 0.50, 0.50, 0.00, 1.50, 0.50, 0.50, 0.00, 1.25, 0.25, 0.50, 1.50, 1.25, 0.00, 0.25, 1.50, 1.25, 0.00, 0.00, 1.00, 0.50, 0.50]]> : tensor<8x64xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "gemv", layout = #bcr.bcr_layout<array<i64: 8, 64>, array<i64: 8, 64>, array<i64: 8>, array<i64: 40>>} : (tensor<1x64xf32>, tensor<8x64xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// An f16 layer (compile(dtype='f16')): vp_android_baseline_2022 has no 16-bit storage, so it stays
// packed there; on adreno the shader loads and stores f16 and accumulates in f32.
// CHECK-LABEL: func.func @linear_f16
// CHECK: "bcr.packed_matmul"
// FALLBACK-LABEL: func.func @linear_f16
// FALLBACK: "bcr.dispatch"{{.*}}kernel = @bcr_gpu_half
func.func @linear_f16(%x: tensor<2x16xf16>) -> tensor<2x8xf16> {
  %b = arith.constant dense<[0.5, -0.5, 0.25, -0.25, 1.0, -1.0, 2.0, -2.0]> : tensor<8xf16>
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0], [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0], [0.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 8.0], [0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.5], [0.0, 3.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.5], [0.0, 5.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.5], [0.0, 7.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 8.5]]> : tensor<8x16xf16>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "half", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<2x16xf16>, tensor<8x16xf16>, tensor<8xf16>) -> tensor<2x8xf16>
  return %0 : tensor<2x8xf16>
}

// 70000 images need 70000 workgroups along z, beyond Vulkan's guaranteed 65535: the layer stays
// packed for bcr-densify.
// CHECK-LABEL: func.func @too_many_images
// CHECK: "bcr.packed_conv2d"
// CHECK-NOT: "bcr.dispatch"
// FALLBACK-LABEL: func.func @too_many_images
// FALLBACK: call @bcr_dense_huge
func.func @too_many_images(%x: tensor<70000x1x1x1xf32>) -> tensor<70000x8x1x1xf32> {
  %b = arith.constant dense<0.0> : tensor<8xf32>
  %w = arith.constant dense<[[[[1.0]]], [[[2.0]]], [[[0.0]]], [[[0.0]]], [[[3.0]]], [[[0.0]]], [[[4.0]]], [[[5.0]]]]> : tensor<8x1x1x1xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "huge", layout = #bcr.bcr_layout<array<i64: 8, 1>, array<i64: 8, 1>, array<i64: 5>, array<i64: 1>>, strides = array<i64: 1, 1>} : (tensor<70000x1x1x1xf32>, tensor<8x1x1x1xf32>, tensor<8xf32>) -> tensor<70000x8x1x1xf32>
  return %0 : tensor<70000x8x1x1xf32>
}

// The shaders. Conv: one 16 x 1 workgroup, each invocation 1 position x 8 rows (8 accumulators,
// each input load feeding 8 FMAs); no push constants, every size is a literal.
// CHECK-LABEL: func.func private @bcr_gpu_conv1(tensor<1x2x10x10xf32>, tensor<46xi32>) -> tensor<1x8x4x4xf32>
// CHECK-SAME: bcr.bindings = array<i64: 0, 5>
// CHECK-SAME: bcr.glsl = "#version 450\0A
// CHECK-SAME: layout(local_size_x = 16, local_size_y = 1, local_size_z = 1) in;
// CHECK-SAME: layout(set = 0, binding = 0) readonly restrict buffer Input { float x[]; };
// CHECK-SAME: layout(set = 0, binding = 1) readonly restrict buffer Params { uint p[]; };
// CHECK-SAME: layout(set = 0, binding = 2) writeonly restrict buffer Output { float y[]; };
// CHECK-SAME: uint group = gl_WorkGroupID.y;
// CHECK-SAME: uint in0 = (c0 / 4u) * 20u + (c0 % 4u) * 2u;
// CHECK-SAME: float b0 = uintBitsToFloat(p[2u + o0]), a0_0 = b0;
// CHECK-SAME: for (uint j = p[group]; j < end; ++j) {
// CHECK-SAME: uint at = 10u + j * 9u;
// CHECK-SAME: uint column = p[at];
// CHECK-SAME: float x0 = x[column + in0];
// CHECK-SAME: float w7 = uintBitsToFloat(p[at + 8u]);
// CHECK-SAME: a7_0 += w7 * x0;
// CHECK-SAME: y[out0 + o7 * 16u] = clamp(a7_0, 0.0, 6.0);
// CHECK-SAME: bcr.vulkan_target = "vp_android_baseline_2022", bcr.workgroup_size = array<i64: 16, 1, 1>

// Linear: lanes over the 4 input rows, 2 row groups per workgroup; the bias comes from its binding.
// CHECK-LABEL: func.func private @bcr_gpu_fc1(tensor<4x32xf32>, tensor<16xf32>, tensor<57xi32>) -> tensor<4x16xf32>
// CHECK-SAME: bcr.bindings = array<i64: 0, 1, 5>
// CHECK-SAME: layout(local_size_x = 4, local_size_y = 2, local_size_z = 1) in;
// CHECK-SAME: layout(set = 0, binding = 1) readonly restrict buffer Bias { float bias[]; };
// CHECK-SAME: layout(set = 0, binding = 3) writeonly restrict buffer Output { float y[]; };
// CHECK-SAME: uint group = gl_GlobalInvocationID.y;
// CHECK-SAME: uint in0 = c0 * 32u;
// CHECK-SAME: float b0 = bias[o0], a0_0 = b0;
// CHECK-SAME: uint out0 = q0 * 16u;
// CHECK-SAME: y[out0 + o0] = max(a0_0, 0.0);

// Patterns: 4-row groups, rows through the row map.
// CHECK-LABEL: func.func private @bcr_gpu_conv_p(
// CHECK-SAME: uint k1 = group * 4u + 1u;
// CHECK-SAME: uint o1 = p[3u + k1];
// CHECK-SAME: uint at = 11u + j * 5u;

// Ragged: positions clamped for loads and guarded for stores; padding rows read a valid bias.
// CHECK-LABEL: func.func private @bcr_gpu_ragged(
// CHECK-SAME: if (group >= 3u) return;
// CHECK-SAME: uint c0 = min(q0, 24u);
// CHECK-SAME: uint in0 = n * 49u + (c0 / 5u) * 7u + (c0 % 5u);
// CHECK-SAME: uint o4 = min(k4, 19u);
// CHECK-SAME: uint out0 = n * 500u + q0;
// CHECK-SAME: if (q0 < 25u) y[out0 + o3 * 25u] = max(a3_0, 0.0);
// CHECK-SAME: if (k4 < 20u && q0 < 25u) y[out0 + o4 * 25u] = max(a4_0, 0.0);

// Conv3d: three output dims decomposed with constants.
// CHECK-LABEL: func.func private @bcr_gpu_c3(
// CHECK-SAME: uint in0 = ((c0 / 3u) / 3u) * 16u + ((c0 / 3u) % 3u) * 4u + (c0 % 3u);
// CHECK-SAME: y[out0 + o3 * 27u] = a3_0;

// GEMV: lanes split the columns, a shared-memory tree sum, lane 0 finishes.
// CHECK-LABEL: func.func private @bcr_gpu_gemv(
// CHECK-SAME: layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
// CHECK-SAME: shared float partial[512];
// CHECK-SAME: float b0 = uintBitsToFloat(p[2u + o0]), a0_0 = 0.0;
// CHECK-SAME: for (uint j = p[group] + gl_LocalInvocationID.x; j < end; j += 64u) {
// CHECK-SAME: partial[448u + lane] = a7_0;
// CHECK-SAME: barrier();
// CHECK-SAME: for (uint s = 32u; s > 0u; s >>= 1u) {
// CHECK-SAME: partial[448u + lane] += partial[448u + lane + s];
// CHECK-SAME: if (lane != 0u) return;
// CHECK-SAME: a7_0 = b7 + partial[448u];
// CHECK-SAME: y[out0 + o7] = max(a7_0, 0.0);

// The GPU named on the command line reaches the kernels, for the hand-off's executable target.
// FALLBACK: func.func private @bcr_gpu_conv1({{.*}}bcr.vulkan_target = "adreno"
// FALLBACK: func.func private @bcr_gpu_half(
// FALLBACK-SAME: #extension GL_EXT_shader_16bit_storage : require
// FALLBACK-SAME: readonly restrict buffer Input { float16_t x[]; };
// FALLBACK-SAME: writeonly restrict buffer Output { float16_t y[]; };
// FALLBACK-SAME: float x0 = float(x[column + in0]);
// FALLBACK-SAME: y[out0 + o7] = float16_t(a7_0);

// CPU: error: pass 'bcr-lower-to-gpu-kernels' failed: bcr-lower-to-gpu-kernels generates Vulkan kernels, but the target is arm64-android
// CPU-NEXT: fix: use bcr-lower-to-kernels for CPU targets, or pass --target vulkan
