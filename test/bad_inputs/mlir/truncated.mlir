// malformed: the file ends inside the function
func.func @f() {
  return
