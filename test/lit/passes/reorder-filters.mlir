// RUN: bcr-opt %s -p 'bcr-reorder-filters,bcr-eliminate-redundant-loads' | FileCheck %s
// RUN: bcr-opt %s -p 'bcr-reorder-filters,bcr-eliminate-redundant-loads,bcr-compress-weights' | FileCheck %s --check-prefix=PACKED

// PatDNN patterns: even filters use pattern 58 (centre, up, left, right) on both input channels, odd
// filters use pattern 464 (centre and the bottom row). In the original order every pair of adjacent
// rows mixes both patterns; reordered, rows 0 2 4 6 and 1 3 5 7 share their columns exactly, so a
// register block of 4 rows loads each input vector once for 4 filters with no wasted multiply.
// CHECK-LABEL: func.func @patterns
// CHECK: "bcr.sparse_conv2d"
// CHECK-SAME: row_order = array<i64: 0, 2, 4, 6, 1, 3, 5, 7>
// CHECK-SAME: schedule = #bcr.schedule<0 : i64, 4 : i64, array<i64: 0, 0>, 1 : i64, 0 : i64>

// Two groups of 4 rows with 8 columns each (2 channels x 4 pattern positions), no zeros stored.
// PACKED-DAG: arith.constant dense<[0, 2, 4, 6, 1, 3, 5, 7]> : tensor<8xi32>
// PACKED-DAG: arith.constant dense<[0, 8, 16]> : tensor<3xi32>
// PACKED-DAG: arith.constant dense<[1, 3, 4, 5, 10, 12, 13, 14, 4, 6, 7, 8, 13, 15, 16, 17]> : tensor<16xi32>
// PACKED: "bcr.packed_conv2d"{{.*}} : (tensor<1x2x10x10xf32>, tensor<8xf32>, tensor<8xi32>, tensor<3xi32>, tensor<16xi32>, tensor<16x4xf32>) -> tensor<1x8x8x8xf32>
func.func @patterns(%x: tensor<1x2x10x10xf32>, %b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  %w = arith.constant dense<[[[[0.0, 2.0, 0.0], [3.0, 4.0, 5.0], [0.0, 0.0, 0.0]], [[0.0, 6.0, 0.0], [7.0, 1.0, 2.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [4.0, 5.0, 6.0]], [[0.0, 0.0, 0.0], [0.0, 7.0, 0.0], [1.0, 2.0, 3.0]]], [[[0.0, 4.0, 0.0], [5.0, 6.0, 7.0], [0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 5.0, 0.0], [6.0, 7.0, 1.0]], [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 5.0]]], [[[0.0, 6.0, 0.0], [7.0, 1.0, 2.0], [0.0, 0.0, 0.0]], [[0.0, 3.0, 0.0], [4.0, 5.0, 6.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 7.0, 0.0], [1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0], [0.0, 4.0, 0.0], [5.0, 6.0, 7.0]]], [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]], [[0.0, 5.0, 0.0], [6.0, 7.0, 1.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 5.0]], [[0.0, 0.0, 0.0], [0.0, 6.0, 0.0], [7.0, 1.0, 2.0]]]]> : tensor<8x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "conv1", layout = #bcr.pattern_layout<array<i64: 8, 2>, array<i64: 3, 3>, array<i64: 58, 464>, 16 : i64>, strides = array<i64: 1, 1>} : (tensor<1x2x10x10xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// A BCR layer whose blocks already group its rows keeps its order and its 8-row blocks.
// CHECK-LABEL: func.func @bcr
// CHECK-NOT: row_order
// CHECK: schedule = #bcr.schedule<0 : i64, 8 : i64
func.func @bcr(%x: tensor<1x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0], [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0], [0.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 8.0], [0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0], [0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0], [0.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]]> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// Filter pruning: whole rows zero (rows 1-3 of every 4), the rest dense, so the layout found from the zeros
// is BCR with one 16-row block. In that order every block of rows mixes kept and pruned rows; with the
// pruned rows set apart, one block of 4 rows does all the work (4x less than the natural order's best),
// a cut far over the margin a blockwise layout needs for a new order.
// CHECK-LABEL: func.func @filter_rows
// CHECK: row_order = array<i64: 0, 4, 8, 12, 1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15>
// CHECK-SAME: schedule = #bcr.schedule<0 : i64, 4 : i64
func.func @filter_rows(%x: tensor<64x8xf32>, %b: tensor<16xf32>) -> tensor<64x16xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x8xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc_filters", layout = #bcr.bcr_layout<array<i64: 16, 8>, array<i64: 16, 8>, array<i64: 4>, array<i64: 8>>} : (tensor<64x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<64x16xf32>
  return %0 : tensor<64x16xf32>
}
