// dynamic shapes: the batch size of @main's input is unknown
func.func @main(%arg0: tensor<?x16xf32>) -> tensor<?x16xf32> {
  return %arg0 : tensor<?x16xf32>
}
