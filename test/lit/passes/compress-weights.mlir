// RUN: bcr-opt %s -p 'bcr-compress-weights' | FileCheck %s

// Rows 0-7 use columns 1, 5, 17, 30; rows 8-15 use columns 0 and 9. Per block-row of 8 rows, the
// kept columns and their 8 values are stored together.
// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<4x32xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %w = arith.constant dense<[[0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 0.50, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 1.25, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0], [0.0, 1.50, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.00, 0.0], [0.0, 0.75, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.00, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0], [0.0, 1.75, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.50, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.00, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<16x32xf32>
  // CHECK-DAG: %[[ROWS:.*]] = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]> : tensor<16xi32>
  // CHECK-DAG: %[[OFF:.*]] = arith.constant dense<[0, 4, 6]> : tensor<3xi32>
  // CHECK-DAG: %[[IDX:.*]] = arith.constant dense<[1, 5, 17, 30, 0, 9]> : tensor<6xi32>
  // CHECK-DAG: %[[VAL:.*]] = arith.constant dense<{{\[\[}}{{.*}}]]> : tensor<6x8xf32>
  // CHECK: "bcr.packed_matmul"(%{{.*}}, %{{.*}}, %[[ROWS]], %[[OFF]], %[[IDX]], %[[VAL]]) {activation = "relu", layer = "fc1", layout = #bcr.bcr_layout
  // CHECK-SAME: (tensor<4x32xf32>, tensor<16xf32>, tensor<16xi32>, tensor<3xi32>, tensor<6xi32>, tensor<6x8xf32>) -> tensor<4x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc1", layout = #bcr.bcr_layout<array<i64: 16, 32>, array<i64: 8, 16>, array<i64: 8, 8, 8, 0>, array<i64: 2, 2, 2, 0>>} : (tensor<4x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// The packed values are the weight matrix's kept entries, transposed per block-row.
// CHECK-LABEL: func.func @values
func.func @values(%x: tensor<1x4xf32>, %b: tensor<4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 4.0], [0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 6.0]]> : tensor<4x4xf32>
  // CHECK-DAG: arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  // CHECK-DAG: arith.constant dense<[0, 2, 4]> : tensor<3xi32>
  // CHECK-DAG: arith.constant dense<[1, 3, 1, 3]> : tensor<4xi32>
  // CHECK-DAG: arith.constant dense<{{\[\[}}1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00], [5.000000e+00, 0.000000e+00], [0.000000e+00, 6.000000e+00]]> : tensor<4x2xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "tiny", layout = #bcr.bcr_layout<array<i64: 4, 4>, array<i64: 2, 4>, array<i64: 2, 2>, array<i64: 2, 2>>} : (tensor<1x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// A row order (from bcr-reorder-filters) and a register block of 2 rows (from
// bcr-eliminate-redundant-loads): rows 0 and 2 share columns 1 and 3, rows 1 and 3 share column 1.
// CHECK-LABEL: func.func @reordered
func.func @reordered(%x: tensor<1x4xf32>, %b: tensor<4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0], [0.0, 5.0, 0.0, 4.0], [0.0, 6.0, 0.0, 0.0]]> : tensor<4x4xf32>
  // CHECK-DAG: arith.constant dense<[0, 2, 1, 3]> : tensor<4xi32>
  // CHECK-DAG: arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  // CHECK-DAG: arith.constant dense<[1, 3, 1]> : tensor<3xi32>
  // CHECK-DAG: arith.constant dense<{{\[\[}}1.000000e+00, 5.000000e+00], [2.000000e+00, 4.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "re", row_order = array<i64: 0, 2, 1, 3>, schedule = #bcr.schedule<2 : i64, 2 : i64, array<i64: 1, 1>, 1 : i64, 1 : i64>, layout = #bcr.bcr_layout<array<i64: 4, 4>, array<i64: 4, 4>, array<i64: 4>, array<i64: 2>>} : (tensor<1x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
