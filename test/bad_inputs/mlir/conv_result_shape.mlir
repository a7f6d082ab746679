// verify: a 3x3 stride-1 conv of a 10x10 input gives 8x8, not 9x9
func.func @f(%x: tensor<1x4x10x10xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x9x9xf32> {
  %0 = "bcr.sparse_conv2d"(%x, %w, %b) {activation = "none", dilations = array<i64: 1, 1>, layer = "c1", layout = #bcr.bcr_layout<array<i64: 8, 36>, array<i64: 8, 36>, array<i64: 8>, array<i64: 9>>, strides = array<i64: 1, 1>} : (tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x9x9xf32>
  return %0 : tensor<1x8x9x9xf32>
}
