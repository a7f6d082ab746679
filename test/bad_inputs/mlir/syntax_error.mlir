// malformed: not MLIR at all
func.func @main(%arg0: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %0 = linalg.what_is_this %arg0 :
}
