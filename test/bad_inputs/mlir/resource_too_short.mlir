// packed sizes: the blob holds 1 float for a tensor<2xf32>
func.func @main(%arg0: tensor<1x2xf32>) -> tensor<2xf32> {
  %w = arith.constant dense_resource<"w"> : tensor<2xf32>
  return %w : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      "w": "0x0400000000000000"
    }
  }
#-}
