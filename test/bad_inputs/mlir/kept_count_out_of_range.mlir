// verify: a block of 8 columns cannot keep 9
func.func @f(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 4, 4>, array<i64: 2, 9, 2, 2>>} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
