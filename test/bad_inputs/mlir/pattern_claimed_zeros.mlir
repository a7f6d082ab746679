// claimed zeros: the pattern layout allows one 4-entry pattern, the weight is all ones
func.func @f(%x: tensor<1x2x5x5xf32>, %b: tensor<2xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2x3x3xf32>
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "c1", layout = #bcr.pattern_layout<array<i64: 2, 2>, array<i64: 3, 3>, array<i64: 23>, 4 : i64>, strides = array<i64: 1, 1>} : (tensor<1x2x5x5xf32>, tensor<2x2x3x3xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}
