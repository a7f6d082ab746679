// RUN: bcr-opt %s | FileCheck %s
// RUN: bcr-opt %s | bcr-opt | FileCheck %s
// The IRDL definition loads in IREE's tools too:
// RUN: iree-opt --irdl-file=%bcr_dialect %s | FileCheck %s

// CHECK-LABEL: func.func @layouts
func.func @layouts(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  // CHECK: "bcr.sparse_matmul"(%{{.*}}, %{{.*}}, %{{.*}}) {activation = "relu", layer = "fc",
  // CHECK-SAME: layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 2, 4>, array<i64: 2, 2, 3, 1>>}
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 2, 4>, array<i64: 2, 2, 3, 1>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// CHECK-LABEL: func.func @pattern_and_group
func.func @pattern_and_group(%x: tensor<1x4x10x10xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  // CHECK: layout = #bcr.pattern_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 58, 178, 154>, 20 : i64>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "c1", layout = #bcr.pattern_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 58, 178, 154>, 20 : i64>, strides = array<i64: 1, 1>} : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: layout = #bcr.group_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 4, 2>, array<i64: 3, 4, 2, 5>>
  %1 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "c2", layout = #bcr.group_layout<array<i64: 8, 4>, array<i64: 3, 3>, array<i64: 4, 2>, array<i64: 3, 4, 2, 5>>, strides = array<i64: 1, 1>} : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// CHECK-LABEL: func.func @packed_and_dispatch
func.func @packed_and_dispatch(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<3xi32>, %idx: tensor<6xi32>, %val: tensor<6x4xf32>) -> tensor<1x8xf32> {
  // CHECK: "bcr.packed_matmul"(%{{.*}}) {activation = "none", layer = "fc", layout = #bcr.bcr_layout
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 2, 4>, array<i64: 2, 2, 3, 1>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<3xi32>, tensor<6xi32>, tensor<6x4xf32>) -> tensor<1x8xf32>
  // CHECK: "bcr.dispatch"(%{{.*}}) {kernel = @k, layer = "fc", workgroups = array<i64: 2, 1, 1>}
  %1 = "bcr.dispatch"(%x, %b, %rows, %off, %idx, %val) {kernel = @k, layer = "fc", workgroups = array<i64: 2, 1, 1>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<3xi32>, tensor<6xi32>, tensor<6x4xf32>) -> tensor<1x8xf32>
  return %1 : tensor<1x8xf32>
}

// CHECK-LABEL: func.func @expand_depthwise
func.func @expand_depthwise(%x: tensor<1x16x8x8xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>, %db: tensor<8xf32>, %taps: tensor<8x3x3xf32>) -> tensor<1x8x4x4xf32> {
  // CHECK: "bcr.packed_expand_depthwise"(%{{.*}}) {activation = "relu6", depthwise_activation = "relu6", depthwise_layer = "dw", layer = "expand"
  %0 = "bcr.packed_expand_depthwise"(%x, %b, %rows, %off, %idx, %val, %db, %taps) {activation = "relu6", depthwise_activation = "relu6", depthwise_layer = "dw", layer = "expand", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>, strides = array<i64: 2, 2>} : (tensor<1x16x8x8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8x3x3xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// A 1x1 conv that bcr-raise-sparse-layers described with a pattern layout (one 1x1 "pattern") fuses too.
// CHECK-LABEL: func.func @expand_depthwise_pattern_layout
func.func @expand_depthwise_pattern_layout(%x: tensor<1x16x8x8xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>, %db: tensor<8xf32>, %taps: tensor<8x3x3xf32>) -> tensor<1x8x8x8xf32> {
  // CHECK: "bcr.packed_expand_depthwise"(%{{.*}}) {{.*}}layout = #bcr.pattern_layout<array<i64: 8, 16>, array<i64: 1, 1>, array<i64: 1>, 64 : i64>
  %0 = "bcr.packed_expand_depthwise"(%x, %b, %rows, %off, %idx, %val, %db, %taps) {activation = "none", depthwise_activation = "none", depthwise_layer = "dw", layer = "expand", layout = #bcr.pattern_layout<array<i64: 8, 16>, array<i64: 1, 1>, array<i64: 1>, 64 : i64>, strides = array<i64: 1, 1>} : (tensor<1x16x8x8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8x3x3xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// A matmul and its gate cell (bcr-fuse-gate-cells), with its cell inputs as a variadic tail.
// CHECK-LABEL: func.func @gate_cell
// CHECK: "bcr.packed_gate_cell"(%{{.*}}) {cell = @gate_cell_body, gates = 2 : i64, layer = "cell"
func.func @gate_cell(%x: tensor<1x16xf32>, %b: tensor<16xf32>, %rows: tensor<16xi32>, %off: tensor<3xi32>, %idx: tensor<4xi32>, %val: tensor<4x8xf32>, %h: tensor<8xf32>) -> tensor<1x8xf32> {
  %0 = "bcr.packed_gate_cell"(%x, %b, %rows, %off, %idx, %val, %h) {cell = @gate_cell_body, gates = 2 : i64, layer = "cell", layout = #bcr.bcr_layout<array<i64: 16, 16>, array<i64: 8, 16>, array<i64: 8, 8>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<16xf32>, tensor<16xi32>, tensor<3xi32>, tensor<4xi32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
func.func private @gate_cell_body(%g0: f32, %g1: f32, %h: f32) -> f32 {
  %0 = arith.mulf %g0, %g1 : f32
  %1 = arith.addf %0, %h : f32
  return %1 : f32
}
