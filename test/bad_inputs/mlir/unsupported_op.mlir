// unsupported: an op of an unknown dialect
func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "foo.bar"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
