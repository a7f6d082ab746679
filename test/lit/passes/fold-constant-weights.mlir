// RUN: bcr-opt %s -p 'bcr-fold-constant-weights' --bcr-report 2>%t.report | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.report

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#scalar = affine_map<(d0, d1) -> ()>

// A weight masked and scaled in forward(): weight * mask, then * 0.5 (a scalar from outside the body),
// transposed into a matmul. Both generics fold into one constant; the zeros the mask put there are
// constant now, for bcr-raise-sparse-layers to see.
// CHECK-LABEL: func.func @masked_linear
// CHECK-NOT: linalg.generic
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 0.000000e+00, 1.500000e+00], [0.000000e+00, 2.500000e+00, 0.000000e+00]]> : tensor<2x3xf32>
// CHECK: linalg.transpose ins(%[[W]]
// CHECK: linalg.matmul
// REPORT: note: 5 weight(s) computed in forward() from constants folded into constants: folded_weight, folded_weight, fc.weight, folded_weight, folded_weight{{$}}
func.func @masked_linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %half = arith.constant 0.5 : f32
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %mask = arith.constant dense<[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %masked = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%w, %mask : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  %scaled = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%masked : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %p = arith.mulf %a, %half : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  %t = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%scaled : tensor<2x3xf32>) outs(%t : tensor<3x2xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// A per-row scale broadcast over the columns (an input map that skips a loop), clamped at 0 with
// select(cmpf): folded, with the broadcast laid out over the loops.
// CHECK-LABEL: func.func @row_scaled_clamped
// CHECK-NOT: linalg.generic
// CHECK: arith.constant dense<{{\[}}[2.000000e+00, 0.000000e+00], [0.000000e+00, 1.200000e+01]]> : tensor<2x2xf32>
func.func @row_scaled_clamped(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, -2.0], [-3.0, 4.0]]> : tensor<2x2xf32>
  %s = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %c = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%w, %s : tensor<2x2xf32>, tensor<2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %gt = arith.cmpf ogt, %p, %zero : f32
    %r = arith.select %gt, %p, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x2xf32>
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %c : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// Left alone: a product of constants that feeds no weight (an activation's scale), and a weight scaled
// by a run-time value (the input's own entries).
// CHECK-LABEL: func.func @not_weights
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK: linalg.generic
// CHECK: arith.mulf
func.func @not_weights(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %a = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %scale = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<2x2xf32>
  %w = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a, %x : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %scale, %y : tensor<2x2xf32>, tensor<2x2xf32>
}

// Named parameters, as the importer makes them: a module that keeps its weight as `fc.weight_unmasked` and
// multiplies in `fc.weight_mask` before the matmul. The product is the layer's weight, and is named
// `fc.weight`, the name the pruning metadata and the report use, even this small.
// CHECK-LABEL: func.func @named_parameters
// CHECK: %[[W:.*]] = arith.constant dense_resource<fc.weight> : tensor<2x2xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W]]
func.func @named_parameters(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense_resource<fc.weight_unmasked> : tensor<2x2xf32>
  %m = arith.constant dense_resource<fc.weight_mask> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %wm = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%w, %m : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x2xf32>
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wm : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// A boolean mask, as torch-mlir imports one: an i8 constant (a uint8 copy of the bool tensor) compared with 0
// by an integer generic, then read by the weight's select. The comparison is evaluated along with the select,
// and the integer generic, dead then, is erased.
// CHECK-LABEL: func.func @boolean_mask
// CHECK-NOT: linalg.generic
// CHECK-NOT: arith.cmpi
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [0.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W]]
func.func @boolean_mask(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %c0_i8 = arith.constant 0 : i8
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %m = arith.constant dense<[[1, 0], [0, -1]]> : tensor<2x2xi8>
  %eb = tensor.empty() : tensor<2x2xi1>
  %keep = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%m : tensor<2x2xi8>) outs(%eb : tensor<2x2xi1>) {
  ^bb0(%a: i8, %o: i1):
    %ne = arith.cmpi ne, %a, %c0_i8 : i8
    linalg.yield %ne : i1
  } -> tensor<2x2xi1>
  %e = tensor.empty() : tensor<2x2xf32>
  %wm = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%keep, %w : tensor<2x2xi1>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%k: i1, %a: f32, %o: f32):
    %r = arith.select %k, %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x2xf32>
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wm : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// A weight normalized per row in forward(): a reduction generic (the sum of squares over the columns,
// accumulated onto a linalg.fill of 0), a square root, and a division broadcasting the norms. The
// reduction is evaluated (its body's value before the accumulator, summed over the reduction loop), and
// the three generics fold into one constant; the zero stays a zero.
// CHECK-LABEL: func.func @normalized_rows
// CHECK-NOT: linalg.generic
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[6.000000e-01, 8.000000e-01], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W]]
func.func @normalized_rows(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[3.0, 4.0], [0.0, 5.0]]> : tensor<2x2xf32>
  %n0 = tensor.empty() : tensor<2xf32>
  %nf = linalg.fill ins(%zero : f32) outs(%n0 : tensor<2xf32>) -> tensor<2xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]} ins(%w : tensor<2x2xf32>) outs(%nf : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %s = arith.addf %sq, %acc : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  %norm = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%sum : tensor<2xf32>) outs(%n0 : tensor<2xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.sqrt %a : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %wn = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%w, %norm : tensor<2x2xf32>, tensor<2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %q = arith.divf %a, %b : f32
    linalg.yield %q : f32
  } -> tensor<2x2xf32>
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wn : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      fc.weight_unmasked: "0x040000000000803F000000400000404000008040",
      fc.weight_mask: "0x040000000000803F00000000000000000000803F"
    }
  }
#-}

// A transposed conv as torch-mlir emits it: a conv over the zero-stuffed input whose weight is a gather
// (linalg.index, index arithmetic, tensor.extract) of the [Cin, Cout, KH, KW] parameter, transposed and
// flipped. The gather folds into a constant, so the layer is a conv of a constant weight. It only moves the
// parameter's values, so the note on weights computed in forward() leaves it out.
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @transposed_conv
// CHECK-NOT: tensor.extract
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}4.000000e+00, 3.000000e+00], [2.000000e+00, 1.000000e+00]], {{\[\[}}8.000000e+00, 7.000000e+00], [6.000000e+00, 5.000000e+00]]]]> : tensor<1x2x2x2xf32>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %[[W]] :
func.func @transposed_conv(%x: tensor<1x2x5x5xf32>) -> tensor<1x1x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %w = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]], [[[5.0, 6.0], [7.0, 8.0]]]]> : tensor<2x1x2x2xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %flipped = linalg.generic {indexing_maps = [#id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%e : tensor<1x2x2x2xf32>) {
  ^bb0(%out: f32):
    %f = linalg.index 0 : index
    %c = linalg.index 1 : index
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %ri = arith.subi %c1, %i : index
    %rj = arith.subi %c1, %j : index
    %v = tensor.extract %w[%c, %f, %ri, %rj] : tensor<2x1x2x2xf32>
    linalg.yield %v : f32
  } -> tensor<1x2x2x2xf32>
  %o = tensor.empty() : tensor<1x1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %flipped : tensor<1x2x5x5xf32>, tensor<1x2x2x2xf32>) outs(%init : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}
