// dynamic shapes: a bcr op's weight of unknown row count (kernels are generated for fixed sizes)
func.func @f(%x: tensor<1x16xf32>, %w: tensor<?x16xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %0 = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc", layout = #bcr.bcr_layout<array<i64: 8, 16>, array<i64: 8, 16>, array<i64: 8>, array<i64: 2>>} : (tensor<1x16xf32>, tensor<?x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
