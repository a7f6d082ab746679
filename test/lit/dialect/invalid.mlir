// RUN: not bcr-opt --split-input-file %s 2>&1 | FileCheck %s

func.func @wrong_parameter_kind(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}: expected base attribute 'builtin.dense_array' but got 'builtin.integer'
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, 4 : i64, array<i64: 4>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @block_too_large(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}'bcr.sparse_matmul' (layer 'fc'): malformed bcr_layout: block 16x16 is larger than the 8x16 weight matrix
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 16, 16>, array<i64: 4>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @wrong_count(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}malformed bcr_layout: kept_rows has 3 entries but the 2x2 block grid has 4
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 4>, array<i64: 2, 2, 2, 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @count_out_of_range(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}malformed bcr_layout: block (0, 1) keeps 9 columns but has 8
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 4, 4>, array<i64: 2, 9, 2, 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @shape_mismatch(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}layout shape [8, 32] does not match the 8x16 weight matrix
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 32>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @zeros_not_zero(%x: tensor<1x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %w = arith.constant dense<1.0> : tensor<8x16xf32>
  // CHECK: error: {{.*}}claimed zeros are not zero: block (0, 0) has nonzeros in 8 rows and 16 columns, but the layout claims at most 8 rows and 2 columns
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @packed_sizes(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<6xi32>, %val: tensor<5x8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}packed sizes disagree: 6 indices need values of shape [6, G], got [5, 8]
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 6>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<6xi32>, tensor<5x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @index_out_of_range(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %val: tensor<2x8xf32>) -> tensor<1x8xf32> {
  %rows = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi32>
  %off = arith.constant dense<[0, 2]> : tensor<2xi32>
  %idx = arith.constant dense<[3, 16]> : tensor<2xi32>
  // CHECK: error: {{.*}}column index 16 is out of range 0..15
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @unknown_activation(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}unknown activation 'gelu'; use one of none, relu, relu6
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "gelu", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @missing_attribute(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}invalid.mlir:[[# @LINE + 1]]:8: 'bcr.sparse_matmul' op attribute "layout" is expected but not provided
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc"} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @operand_count(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}expects exactly 3 operands, but got 2
  %0 = "bcr.sparse_matmul"(%x, %w) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @bias_shape(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<4xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}bias must be a 8-vector, got [4]
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<4xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @pattern_without_centre_is_still_a_pattern_but_bits_must_fit(%x: tensor<1x4x10x10xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  // CHECK: error: {{.*}}malformed pattern_layout: pattern 1024 does not fit a 3x3 kernel (bits 0..8)
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "c1", layout = #bcr.pattern_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 1024>, 20 : i64>, strides = array<i64: 1, 1>} : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// -----
func.func @rows_not_a_permutation(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %val: tensor<2x8xf32>) -> tensor<1x8xf32> {
  %rows = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 6]> : tensor<8xi32>
  %off = arith.constant dense<[0, 2]> : tensor<2xi32>
  %idx = arith.constant dense<[3, 4]> : tensor<2xi32>
  // CHECK: error: {{.*}}rows must list each of the 8 output rows once
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @offsets_count(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<3xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}offsets must have 2 entries (one per group of 8 rows, plus one), got [3]
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<3xi32>, tensor<2xi32>, tensor<2x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----
func.func @fused_taps_shape(%x: tensor<1x16x8x8xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>, %db: tensor<8xf32>, %taps: tensor<8x9xf32>) -> tensor<1x8x4x4xf32> {
  // CHECK: error: {{.*}}'bcr.packed_expand_depthwise' (layer 'expand'): depthwise bias [8] and taps [8, 9] must be [8] and [8, 3, 3]
  %0 = "bcr.packed_expand_depthwise"(%x, %b, %rows, %off, %idx, %val, %db, %taps) {activation = "relu6", depthwise_activation = "relu6", depthwise_layer = "dw", layer = "expand", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>, strides = array<i64: 2, 2>} : (tensor<1x16x8x8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8x9xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----
func.func @fused_result_size(%x: tensor<1x16x8x8xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>, %db: tensor<8xf32>, %taps: tensor<8x3x3xf32>) -> tensor<1x8x8x8xf32> {
  // CHECK: error: {{.*}}result [1, 8, 8, 8] does not follow from the input [1, 16, 8, 8] and stride 2 (expected [1, 8, 4, 4])
  %0 = "bcr.packed_expand_depthwise"(%x, %b, %rows, %off, %idx, %val, %db, %taps) {activation = "relu6", depthwise_activation = "relu6", depthwise_layer = "dw", layer = "expand", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>, strides = array<i64: 2, 2>} : (tensor<1x16x8x8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8x3x3xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// -----
func.func @gate_cell_bias(%x: tensor<1x16xf32>, %b: tensor<12xf32>, %rows: tensor<16xi32>, %off: tensor<3xi32>, %idx: tensor<4xi32>, %val: tensor<4x8xf32>) -> tensor<1x8xf32> {
  // CHECK: error: {{.*}}'bcr.packed_gate_cell' (layer 'cell'): expects 2 gates of the output's 8 values, 16 biases; got [12]
  %0 = "bcr.packed_gate_cell"(%x, %b, %rows, %off, %idx, %val) {cell = @c, gates = 2 : i64, layer = "cell", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<12xf32>, tensor<16xi32>, tensor<3xi32>, tensor<4xi32>, tensor<4x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
