// verify: packed indices are i32
func.func @f(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %rows: tensor<8xi32>, %off: tensor<2xi32>, %idx: tensor<2xf32>, %val: tensor<2x8xf32>) -> tensor<1x8xf32> {
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xf32>, tensor<2x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
