// unsupported: torch-dialect IR instead of linalg-on-tensors
func.func @main(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}
