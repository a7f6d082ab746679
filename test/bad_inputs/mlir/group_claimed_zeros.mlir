// claimed zeros: the group layout keeps 2 positions per group, the weight is all ones
func.func @f(%x: tensor<1x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %w = arith.constant dense<1.0> : tensor<8x16xf32>
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.group_layout<array<i64: 8, 16>, array<i64>, array<i64: 4, 16>, array<i64: 2, 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
