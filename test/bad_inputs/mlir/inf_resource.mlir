// NaN/Inf: the weight blob holds +Inf (0x7F800000) at element 1
func.func @main(%arg0: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %w = arith.constant dense_resource<"fc.weight"> : tensor<2x2xf32>
  %0 = tensor.empty() : tensor<1x2xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %2 = linalg.matmul ins(%arg0, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%1 : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %2 : tensor<1x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      "fc.weight": "0x040000000000803F0000807F000000000000803F"
    }
  }
#-}
