// RUN: bcr-opt %s -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize' --bcr-report 2>%t.report | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.report

// A Linear layer as torch-mlir emits it (transposed constant weight, matmul, bias add), then a ReLU.
// Its weight has block-row structure: rows 0-7 use 4 columns (2 per 8x16 block) except row 3, which
// is pruned; rows 8-15 use 2 columns, both in the first block.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<4x32xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.50, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x32xf32> loc("fc1")
  %b = arith.constant dense<[-0.50, 0.0, 0.50, -0.25, -0.25, 0.75, 0.50, 0.75, -0.25, 0.25, 0.75, 0.25, 0.50, 0.25, 0.25, -0.25]> : tensor<16xf32>
  %wt_init = tensor.empty() : tensor<32x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x32xf32>) outs(%wt_init : tensor<32x16xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %wt : tensor<4x32xf32>, tensor<32x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  // The matmul, the bias add and the ReLU become one op over the untransposed weight.
  // CHECK-NOT: linalg.matmul
  // CHECK: "bcr.sparse_matmul"(%{{.*}}, %{{.*}}, %{{.*}}) {activation = "relu", layer = "fc1",
  // CHECK-SAME: layout = #bcr.bcr_layout<array<i64: 16, 32>, array<i64: 8, 16>, array<i64: 7, 7, 8, 0>, array<i64: 2, 2, 2, 0>>}
  // CHECK-SAME: : (tensor<4x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  // CHECK-NOT: linalg.generic
  return %r : tensor<4x16xf32>
}

// A conv with a bias broadcast into its init; all 8 filters keep the same 4 of their 18 weight
// columns: group sparsity (SparseByteNN), detected from the zeros.
// CHECK-LABEL: func.func @conv
func.func @conv(%x: tensor<1x2x10x10xf32>) -> tensor<1x8x8x8xf32> {
  %w = arith.constant dense<[[[[0.0, 0.0, 2.00], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 1.50, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.00, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.00], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.25], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.50], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.25, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 1.75], [0.0, 1.00, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.75, 0.0], [0.0, 2.00, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.75], [0.0, 0.50, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.50, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<8x2x3x3xf32> loc("conv1")
  %bias = arith.constant dense<0.5> : tensor<8xf32>
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %init = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x8x8xf32>) dimensions = [0, 2, 3]
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>) outs(%init : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: "bcr.sparse_conv2d"(%{{.*}}, %{{.*}}, %{{.*}}) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv1",
  // CHECK-SAME: layout = #bcr.group_layout<array<i64: 8, 2>, array<i64: 3, 3>, array<i64: 8, 2>, array<i64: 4>>, strides = array<i64: 1, 1>}
  return %c : tensor<1x8x8x8xf32>
}

// A dense layer stays a linalg op and says why.
// CHECK-LABEL: func.func @dense
func.func @dense(%x: tensor<1x2x10x10xf32>, %w: tensor<8x2x3x3xf32>) -> tensor<1x8x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %cw = arith.constant dense<1.0> : tensor<8x2x3x3xf32>
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: linalg.conv_2d_nchw_fchw {bcr.decision = "dense: no zero weights"
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %cw : tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>) outs(%f : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  return %c : tensor<1x8x8x8xf32>
}

// REPORT: layer
// REPORT: fc1 {{.*}} matmul {{.*}} bcr 8x16 {{.*}} sparse {{.*}} detected from zeros
// REPORT: conv1 {{.*}} conv2d {{.*}} group 8x2 {{.*}} sparse
// REPORT: line{{[0-9]+}} {{.*}} dense {{.*}} no zero weights

// A depthwise conv (torch-mlir collapses its [C, 1, 3, 3] weight) goes straight to packed storage
// over its block-diagonal matrix, one row per channel with its own taps; the ReLU6 is fused.
// CHECK-LABEL: func.func @depthwise
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
// CHECK-DAG: arith.constant dense<[0, 1]> : tensor<2xi32>
// CHECK-DAG: arith.constant dense<[0, 9, 18]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]> : tensor<18xi32>
// CHECK: "bcr.packed_conv2d"{{.*}}activation = "relu6"{{.*}}kernel = array<i64: 3, 3>, layer = "dw"
// CHECK-SAME: layout = #bcr.group_layout<array<i64: 2, 2>, array<i64: 3, 3>, array<i64: 1, 2>, array<i64: 9, 9>>
// REPORT: dw {{.*}} depthwise conv2d {{.*}} sparse {{.*}} IREE's depthwise conv runs at
func.func @depthwise(%x: tensor<1x2x66x66xf32>) -> tensor<1x2x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w4 = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<2x1x3x3xf32> loc("dw")
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<2x1x3x3xf32> into tensor<2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %c = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x66x66xf32>, tensor<2x3x3xf32>) outs(%f : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  } -> tensor<1x2x64x64xf32>
  return %r : tensor<1x2x64x64xf32>
}

// ReLU6 as torch-mlir 20261001 emits it (a clamp with 0-d tensor bounds): one generic per bound,
// select(x > 0, x, 0) then select(6 < x, 6, x). Both are fused into the layer as "relu6".
#nchw = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar = affine_map<(d0, d1, d2, d3) -> ()>
// CHECK-LABEL: func.func @depthwise_relu6_per_bound
// CHECK-NOT: linalg.generic
// CHECK: "bcr.packed_conv2d"{{.*}}activation = "relu6"{{.*}}layer = "dw_clamp"
// CHECK-NOT: linalg.generic
// CHECK: return
// REPORT: dw_clamp {{.*}} depthwise conv2d {{.*}} sparse
func.func @depthwise_relu6_per_bound(%x: tensor<1x2x66x66xf32>) -> tensor<1x2x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %lo = arith.constant dense<0.0> : tensor<f32>
  %hi = arith.constant dense<6.0> : tensor<f32>
  %w4 = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<2x1x3x3xf32> loc("dw_clamp")
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<2x1x3x3xf32> into tensor<2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %c = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x66x66xf32>, tensor<2x3x3xf32>) outs(%f : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %low = linalg.generic {indexing_maps = [#nchw, #scalar, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c, %lo : tensor<1x2x64x64xf32>, tensor<f32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%in: f32, %bound: f32, %out: f32):
    %gt = arith.cmpf ogt, %in, %bound : f32
    %s = arith.select %gt, %in, %bound : f32
    linalg.yield %s : f32
  } -> tensor<1x2x64x64xf32>
  %high = linalg.generic {indexing_maps = [#scalar, #nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%hi, %low : tensor<f32>, tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%bound: f32, %in: f32, %out: f32):
    %lt = arith.cmpf olt, %bound, %in : f32
    %s = arith.select %lt, %bound, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x2x64x64xf32>
  return %high : tensor<1x2x64x64xf32>
}

// A clamp to [0, 5] is not ReLU6: the lower bound is fused as "relu", the upper one stays a generic.
// CHECK-LABEL: func.func @depthwise_clamp_to_five
// CHECK: "bcr.packed_conv2d"{{.*}}activation = "relu"{{.*}}layer = "dw_clamp5"
// CHECK: linalg.generic
// CHECK: arith.cmpf olt
// REPORT: dw_clamp5 {{.*}} depthwise conv2d {{.*}} sparse
func.func @depthwise_clamp_to_five(%x: tensor<1x2x66x66xf32>) -> tensor<1x2x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %lo = arith.constant dense<0.0> : tensor<f32>
  %hi = arith.constant dense<5.0> : tensor<f32>
  %w4 = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<2x1x3x3xf32> loc("dw_clamp5")
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<2x1x3x3xf32> into tensor<2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %c = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x66x66xf32>, tensor<2x3x3xf32>) outs(%f : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %low = linalg.generic {indexing_maps = [#nchw, #scalar, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c, %lo : tensor<1x2x64x64xf32>, tensor<f32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%in: f32, %bound: f32, %out: f32):
    %gt = arith.cmpf ogt, %in, %bound : f32
    %s = arith.select %gt, %in, %bound : f32
    linalg.yield %s : f32
  } -> tensor<1x2x64x64xf32>
  %high = linalg.generic {indexing_maps = [#scalar, #nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%hi, %low : tensor<f32>, tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%bound: f32, %in: f32, %out: f32):
    %lt = arith.cmpf olt, %bound, %in : f32
    %s = arith.select %lt, %bound, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x2x64x64xf32>
  return %high : tensor<1x2x64x64xf32>
}

// An f16 model's depthwise conv: f16 data and weights, the f16 bias widened to the f32 sum, the sum narrowed
// back to f16. It is raised with f16 packed values and bias, and the narrowing is absorbed: the kernel
// accumulates in f32 and writes f16.
#v = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @depthwise_f16
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
// CHECK-DAG: arith.constant dense<{{.*}}> : tensor<2xf16>
// CHECK-DAG: arith.constant dense<{{.*}}> : tensor<18x1xf16>
// CHECK: "bcr.packed_conv2d"{{.*}}layer = "dw_f16"{{.*}} -> tensor<1x2x64x64xf16>
// CHECK-NOT: arith.truncf
// CHECK: return
// REPORT: dw_f16 {{.*}} depthwise conv2d {{.*}} sparse {{.*}} IREE's depthwise conv runs at
func.func @depthwise_f16(%x: tensor<1x2x66x66xf16>) -> tensor<1x2x64x64xf16> {
  %w4 = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<2x1x3x3xf16> loc("dw_f16")
  %bias = arith.constant dense<[0.5, -0.25]> : tensor<2xf16>
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<2x1x3x3xf16> into tensor<2x3x3xf16>
  %e2 = tensor.empty() : tensor<2xf32>
  %wide = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]} ins(%bias : tensor<2xf16>) outs(%e2 : tensor<2xf32>) {
  ^bb0(%in: f16, %out: f32):
    %y = arith.extf %in : f16 to f32
    linalg.yield %y : f32
  } -> tensor<2xf32>
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %b = linalg.broadcast ins(%wide : tensor<2xf32>) outs(%e : tensor<1x2x64x64xf32>) dimensions = [0, 2, 3]
  %c = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x66x66xf16>, tensor<2x3x3xf16>) outs(%b : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %e16 = tensor.empty() : tensor<1x2x64x64xf16>
  %n = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x2x64x64xf32>) outs(%e16 : tensor<1x2x64x64xf16>) {
  ^bb0(%in: f32, %out: f16):
    %y = arith.truncf %in : f32 to f16
    linalg.yield %y : f16
  } -> tensor<1x2x64x64xf16>
  return %n : tensor<1x2x64x64xf16>
}

// The same conv whose f32 sum is returned as it is: the kernels write the data's type (f16), so it stays
// with IREE, and the report says why.
// CHECK-LABEL: func.func @depthwise_f16_wide_sum
// CHECK: linalg.depthwise_conv_2d_nchw_chw
// REPORT: dw_f16_wide {{.*}} depthwise conv2d {{.*}} dense {{.*}} its f32 sum is read before it is narrowed to f16
func.func @depthwise_f16_wide_sum(%x: tensor<1x2x66x66xf16>) -> tensor<1x2x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %w4 = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<2x1x3x3xf16> loc("dw_f16_wide")
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<2x1x3x3xf16> into tensor<2x3x3xf16>
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %c = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x66x66xf16>, tensor<2x3x3xf16>) outs(%f : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  return %c : tensor<1x2x64x64xf32>
}

// nn.Linear on a 3-D input [B, M, K] with B > 1: torch-mlir broadcasts the transposed weight over B and
// emits a batch_matmul. Its B * M rows become one sparse matmul between a collapse and an expand.
// Every row keeps columns 1, 5, 9 and 13: group sparsity, detected from the zeros.
#rhs3 = affine_map<(d0, d1, d2) -> (d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last3 = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @linear_3d
func.func @linear_3d(%x: tensor<2x3x16xf32>) -> tensor<2x3x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.0, 0.25, 0.0, 0.0, 0.0, 0.50, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0], [0.0, 1.25, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.50, 0.0, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.50, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0], [0.0, 0.25, 0.0, 0.0, 0.0, 0.50, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0]]> : tensor<8x16xf32> loc("fc3d")
  %b = arith.constant dense<0.25> : tensor<8xf32>
  %wt_init = tensor.empty() : tensor<16x8xf32>
  %wt = linalg.transpose ins(%w : tensor<8x16xf32>) outs(%wt_init : tensor<16x8xf32>) permutation = [1, 0]
  %wb_init = tensor.empty() : tensor<2x16x8xf32>
  %wb = linalg.generic {indexing_maps = [#rhs3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%wt : tensor<16x8xf32>) outs(%wb_init : tensor<2x16x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x16x8xf32>
  %e = tensor.empty() : tensor<2x3x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %m = linalg.batch_matmul ins(%x, %wb : tensor<2x3x16xf32>, tensor<2x16x8xf32>) outs(%f : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %a = linalg.generic {indexing_maps = [#id3, #last3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%m, %b : tensor<2x3x8xf32>, tensor<8xf32>) outs(%e : tensor<2x3x8xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    linalg.yield %s : f32
  } -> tensor<2x3x8xf32>
  // CHECK: %[[ROWS:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<2x3x16xf32> into tensor<6x16xf32>
  // CHECK: %[[Y:.*]] = "bcr.sparse_matmul"(%[[ROWS]], %{{.*}}, %{{.*}}) {activation = "none", layer = "fc3d",
  // CHECK-SAME: layout = #bcr.group_layout
  // CHECK-SAME: -> tensor<6x8xf32>
  // CHECK: %[[OUT:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [2, 3, 8] : tensor<6x8xf32> into tensor<2x3x8xf32>
  // CHECK-NOT: linalg.batch_matmul
  // CHECK-NOT: linalg.generic
  // CHECK: return %[[OUT]]
  return %a : tensor<2x3x8xf32>
}
// REPORT: fc3d {{.*}} matmul {{.*}} group {{.*}} sparse {{.*}} detected from zeros

// A Conv1d (stride 2, dilation 2) runs as a conv2d of one row: its [N, C, L] input expanded to
// [N, C, 1, L], its weight [F, C, K] reshaped to [F, C, 1, K], strides and dilations [1, s], and the
// result collapsed back. Here every filter reads only channel 0 (group sparsity from the zeros).
// CHECK-LABEL: func.func @conv1d
// CHECK: %[[X:.*]] = tensor.expand_shape %arg0 {{\[}}[0], [1], [2, 3]] output_shape [1, 2, 1, 20] : tensor<1x2x20xf32> into tensor<1x2x1x20xf32>
// CHECK: %[[Y:.*]] = "bcr.sparse_conv2d"(%[[X]], %{{.*}}, %{{.*}}) {activation = "none", dilations = array<i64: 1, 2>, layer = "tcn1",
// CHECK-SAME: strides = array<i64: 1, 2>} : (tensor<1x2x1x20xf32>, tensor<8x2x1x3xf32>, tensor<8xf32>) -> tensor<1x8x1x8xf32>
// CHECK: tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3]] : tensor<1x8x1x8xf32> into tensor<1x8x8xf32>
// REPORT: tcn1 {{.*}} conv1d {{.*}} group {{.*}} sparse
func.func @conv1d(%x: tensor<1x2x20xf32>) -> tensor<1x8x8xf32> {
  %w = arith.constant dense<[[[0.25, 0.375, 0.5], [0.0, 0.0, 0.0]], [[0.5, 0.625, 0.75], [0.0, 0.0, 0.0]], [[0.75, 0.875, 1.0], [0.0, 0.0, 0.0]], [[1.0, 1.125, 1.25], [0.0, 0.0, 0.0]], [[1.25, 1.375, 1.5], [0.0, 0.0, 0.0]], [[1.5, 1.625, 1.75], [0.0, 0.0, 0.0]], [[1.75, 1.875, 2.0], [0.0, 0.0, 0.0]], [[2.0, 2.125, 2.25], [0.0, 0.0, 0.0]]]> : tensor<8x2x3xf32> loc("tcn1")
  %bias = arith.constant dense<0.5> : tensor<8xf32>
  %e = tensor.empty() : tensor<1x8x8xf32>
  %init = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x8xf32>) dimensions = [0, 2]
  %c = linalg.conv_1d_ncw_fcw {dilations = dense<2> : vector<1xi64>, strides = dense<2> : vector<1xi64>} ins(%x, %w : tensor<1x2x20xf32>, tensor<8x2x3xf32>) outs(%init : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  return %c : tensor<1x8x8xf32>
}

// A grouped conv as torch-mlir emits it (input and weight expanded to [N, G, C/G, H, W] and
// [G, F/G, C/G, KH, KW], the result collapsed back) becomes one conv of its block-diagonal weight:
// filters 0-3 read channels 0-1 only, filters 4-7 channels 2-3 (group sparsity in 4-row groups). The ReLU
// after the collapse is fused.
// CHECK-LABEL: func.func @grouped
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
// CHECK: "bcr.sparse_conv2d"(%{{.*}}, %{{.*}}, %{{.*}}) {activation = "relu", dilations = array<i64: 1, 1>, layer = "gconv",
// CHECK-SAME: layout = #bcr.group_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 4, 4>, array<i64: 18, 18>>
// CHECK-SAME: : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
// CHECK-NOT: tensor.collapse_shape
// REPORT: gconv {{.*}} grouped conv2d {{.*}} 0.0% {{.*}} sparse {{.*}} 2 groups as one block-diagonal weight
func.func @grouped(%x: tensor<1x4x10x10xf32>) -> tensor<1x8x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<8x2x3x3xf32> loc("gconv")
  %bias = arith.constant dense<[0.5, -0.5, 0.25, -0.25, 0.5, -0.5, 0.25, -0.25]> : tensor<8xf32>
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %init = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x8x8xf32>) dimensions = [0, 2, 3]
  %x5 = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 10, 10] : tensor<1x4x10x10xf32> into tensor<1x2x2x10x10xf32>
  %w5 = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 4, 2, 3, 3] : tensor<8x2x3x3xf32> into tensor<2x4x2x3x3xf32>
  %i5 = tensor.expand_shape %init [[0], [1, 2], [3], [4]] output_shape [1, 2, 4, 8, 8] : tensor<1x8x8x8xf32> into tensor<1x2x4x8x8xf32>
  %c5 = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x5, %w5 : tensor<1x2x2x10x10xf32>, tensor<2x4x2x3x3xf32>) outs(%i5 : tensor<1x2x4x8x8xf32>) -> tensor<1x2x4x8x8xf32>
  %c = tensor.collapse_shape %c5 [[0], [1, 2], [3], [4]] : tensor<1x2x4x8x8xf32> into tensor<1x8x8x8xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x8x8x8xf32>) outs(%e : tensor<1x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x8x8x8xf32>
  return %r : tensor<1x8x8x8xf32>
}

// A grouped conv without a bias: its init is a zero fill of the split [N, G, F/G, H, W] tensor, not a split
// bias broadcast. It is raised the same way, with a zero bias.
// CHECK-LABEL: func.func @grouped_no_bias
// CHECK: %[[ZERO_BIAS:.*]] = arith.constant dense<0.000000e+00> : tensor<8xf32>
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
// CHECK: "bcr.sparse_conv2d"(%{{.*}}, %{{.*}}, %[[ZERO_BIAS]]) {{{.*}}layer = "gconv_nobias"
// CHECK-SAME: : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
// REPORT: gconv_nobias {{.*}} grouped conv2d {{.*}} sparse {{.*}} 2 groups as one block-diagonal weight
func.func @grouped_no_bias(%x: tensor<1x4x10x10xf32>) -> tensor<1x8x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<8x2x3x3xf32> loc("gconv_nobias")
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %x5 = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 10, 10] : tensor<1x4x10x10xf32> into tensor<1x2x2x10x10xf32>
  %w5 = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 4, 2, 3, 3] : tensor<8x2x3x3xf32> into tensor<2x4x2x3x3xf32>
  %e5 = tensor.expand_shape %e [[0], [1, 2], [3], [4]] output_shape [1, 2, 4, 8, 8] : tensor<1x8x8x8xf32> into tensor<1x2x4x8x8xf32>
  %i5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<1x2x4x8x8xf32>) -> tensor<1x2x4x8x8xf32>
  %c5 = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x5, %w5 : tensor<1x2x2x10x10xf32>, tensor<2x4x2x3x3xf32>) outs(%i5 : tensor<1x2x4x8x8xf32>) -> tensor<1x2x4x8x8xf32>
  %c = tensor.collapse_shape %c5 [[0], [1, 2], [3], [4]] : tensor<1x2x4x8x8xf32> into tensor<1x8x8x8xf32>
  return %c : tensor<1x8x8x8xf32>
}

// A weight computed from constants at run time (here weight * mask, which bcr-fold-constant-weights would
// fold; in this pipeline nothing does): no constant weight, so the matmul stays, and the report names the
// layer after the weight and says why, instead of leaving it out.
// CHECK-LABEL: func.func @computed_weight
// CHECK: linalg.matmul
// REPORT: masked {{.*}} matmul {{.*}} dense {{.*}} ? {{.*}} its weight is computed at run time from masked.weight, masked.mask
func.func @computed_weight(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<64x64xf32> loc("masked.weight")
  %m = arith.constant dense<0.0> : tensor<64x64xf32> loc("masked.mask")
  %e = tensor.empty() : tensor<64x64xf32>
  %wm = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%w, %m : tensor<64x64xf32>, tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<64x64xf32>
  %o = tensor.empty() : tensor<4x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x64xf32>) -> tensor<4x64xf32>
  %y = linalg.matmul ins(%x, %wm : tensor<4x64xf32>, tensor<64x64xf32>) outs(%f : tensor<4x64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}
