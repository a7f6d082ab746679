// the weight is a dense_resource the file does not contain (no dialect_resources section)
func.func @main(%arg0: tensor<1x16xf32>) -> tensor<1x8xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %w = arith.constant dense_resource<"fc.weight"> : tensor<16x8xf32>
  %0 = tensor.empty() : tensor<1x8xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %2 = linalg.matmul ins(%arg0, %w : tensor<1x16xf32>, tensor<16x8xf32>) outs(%1 : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %2 : tensor<1x8xf32>
}
