// NaN weights: element [0, 1] of the inline weight is NaN (0x7FC00000)
func.func @main(%arg0: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %w = arith.constant dense<[[1.0, 0x7FC00000], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]> : tensor<4x2xf32>
  %0 = tensor.empty() : tensor<1x2xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %2 = linalg.matmul ins(%arg0, %w : tensor<1x4xf32>, tensor<4x2xf32>) outs(%1 : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %2 : tensor<1x2xf32>
}
