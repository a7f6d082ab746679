// malformed resource: an odd number of hex digits
func.func @main(%arg0: tensor<1x2xf32>) -> tensor<2xf32> {
  %w = arith.constant dense_resource<"w"> : tensor<2xf32>
  return %w : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      "w": "0x040000000000803F0000803"
    }
  }
#-}
