// a packed conv2d on rank-1 tensors (was an IndexError in verify)
func.func @f(%x: tensor<16xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xi32>, %val: tensor<2x8xf32>) -> tensor<8xf32> {
  %0 = "bcr.packed_conv2d"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "c", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, kernel = array<i64: 1, 1>} : (tensor<16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
