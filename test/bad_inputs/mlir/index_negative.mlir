// indices out of range: column -1
func.func @f(%x: tensor<1x16xf32>, %b: tensor<8xf32>, %val: tensor<2x8xf32>) -> tensor<1x8xf32> {
  %rows = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi32>
  %off = arith.constant dense<[0, 2]> : tensor<2xi32>
  %idx = arith.constant dense<[-1, 4]> : tensor<2xi32>
  %0 = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
