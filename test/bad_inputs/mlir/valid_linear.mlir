// Not a bad input: a valid 16 -> 8 linear layer. The corpus compiles it once to get a .vmfb for the
// bcr-run cases (and bcr-compile of it must succeed).
func.func @main(%arg0: tensor<2x16xf32>) -> tensor<2x8xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %w = arith.constant dense<0.25> : tensor<16x8xf32>
  %0 = tensor.empty() : tensor<2x8xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = linalg.matmul ins(%arg0, %w : tensor<2x16xf32>, tensor<16x8xf32>) outs(%1 : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %2 : tensor<2x8xf32>
}
