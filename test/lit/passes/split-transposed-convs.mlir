// RUN: bcr-opt %s -p 'bcr-split-transposed-convs' --bcr-report 2>%t.report | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.report

// ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1) on a 2x2 input, as torch-mlir emits it after
// bcr-fold-constant-weights: the input inserted with strides 2 at offset 1 into zeros [1, 1, 6, 6], then a
// stride-1 3x3 conv of the flipped weight (values 1..9) to 4x4. Output phase (a, b) reads taps
// (1 - a) mod 2, +2 along each dim: phase (0, 0) the centre tap 5 alone, phase (1, 1) the corners
// 1, 3, 7, 9. All four fit a common 2x2 window of the input padded by one zero at the high end, so they run
// as one conv of their stacked filters (each phase's taps at their place, zeros elsewhere) and a
// depth-to-space; the conv is marked as the layer `tconv` with its 9 weights.
// CHECK-LABEL: func.func @stride2
// CHECK-NOT: tensor.insert_slice
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}5.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]], {{\[\[\[}}4.000000e+00, 6.000000e+00], [0.000000e+00, 0.000000e+00]]], {{\[\[\[}}2.000000e+00, 0.000000e+00], [8.000000e+00, 0.000000e+00]]], {{\[\[\[}}1.000000e+00, 3.000000e+00], [7.000000e+00, 9.000000e+00]]]]> : tensor<4x1x2x2xf32>
// CHECK: %[[P:.*]] = tensor.pad %arg0 low[0, 0, 0, 0] high[0, 0, 1, 1]
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {bcr.transposed_layer = {layer = "tconv", weights = 9 : i64}, {{.*}} ins(%[[P]], %[[W]] : tensor<1x1x3x3xf32>, tensor<4x1x2x2xf32>) {{.*}} -> tensor<1x4x2x2xf32>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0], [1, 2, 3], [4], [5]] output_shape [1, 2, 2, 1, 2, 2]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[E]] : tensor<1x2x2x1x2x2xf32>) {{.*}} permutation = [0, 3, 4, 1, 5, 2]
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0], [1], [2, 3], [4, 5]] : tensor<1x1x2x2x2x2xf32> into tensor<1x1x4x4xf32>
// CHECK-NOT: tensor.extract_slice
// CHECK: return %[[R]]
// REPORT: note: tconv: a stride-2x2 transposed conv runs as one conv of its 4 phases' filters stacked on a common 2x2 window, then a depth-to-space; its phases do 4.0x fewer multiply-adds
func.func @stride2(%x: tensor<1x1x2x2xf32>) -> tensor<1x1x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<1x1x3x3xf32> loc("tconv")
  %e = tensor.empty() : tensor<1x1x6x6xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  %stuffed = tensor.insert_slice %x into %zeros[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 2, 2] : tensor<1x1x2x2xf32> into tensor<1x1x6x6xf32>
  %o = tensor.empty() : tensor<1x1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%stuffed, %w : tensor<1x1x6x6xf32>, tensor<1x1x3x3xf32>) outs(%init : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}

// The same conv accumulating into a value computed at run time (neither a constant bias nor a zero fill,
// which the stacked conv's init could not tile): one conv per phase, each over its own window of the input
// (a pad where it reads past the end) and into its elements of the init, interleaved by strided inserts.
// CHECK-LABEL: func.func @runtime_init
// CHECK: %[[I00:.*]] = tensor.extract_slice %arg1[0, 0, 0, 0] [1, 1, 2, 2] [1, 1, 2, 2]
// CHECK: %[[W00:.*]] = arith.constant dense<5.000000e+00> : tensor<1x1x1x1xf32>
// CHECK: %[[Y00:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%arg0, %[[W00]] : tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32>) outs(%[[I00]] : tensor<1x1x2x2xf32>)
// CHECK: tensor.insert_slice %[[Y00]] into %{{.*}}[0, 0, 0, 0] [1, 1, 2, 2] [1, 1, 2, 2]
// CHECK: %[[W01:.*]] = arith.constant dense<{{\[\[\[\[}}4.000000e+00, 6.000000e+00]]]]> : tensor<1x1x1x2xf32>
// CHECK: tensor.pad %arg0 low[0, 0, 0, 0] high[0, 0, 0, 1]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}, %[[W01]] : tensor<1x1x2x3xf32>, tensor<1x1x1x2xf32>) {{.*}} -> tensor<1x1x2x2xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 0, 0, 1] [1, 1, 2, 2] [1, 1, 2, 2]
// CHECK: %[[W10:.*]] = arith.constant dense<{{\[\[\[\[}}2.000000e+00], [8.000000e+00]]]]> : tensor<1x1x2x1xf32>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}, %[[W10]] : tensor<1x1x3x2xf32>, tensor<1x1x2x1xf32>)
// CHECK: tensor.insert_slice {{.*}}[0, 0, 1, 0] [1, 1, 2, 2] [1, 1, 2, 2]
// CHECK: %[[W11:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 3.000000e+00], [7.000000e+00, 9.000000e+00]]]]> : tensor<1x1x2x2xf32>
// CHECK: tensor.pad %arg0 low[0, 0, 0, 0] high[0, 0, 1, 1]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}, %[[W11]] : tensor<1x1x3x3xf32>, tensor<1x1x2x2xf32>)
// CHECK: %[[R:.*]] = tensor.insert_slice {{.*}}[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 2, 2]
// CHECK: return %[[R]]
// REPORT: note: acc: a stride-2x2 transposed conv runs as 4 phase conv(s) (acc.phase*); its phases do 4.0x fewer multiply-adds
func.func @runtime_init(%x: tensor<1x1x2x2xf32>, %init: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]> : tensor<1x1x3x3xf32> loc("acc")
  %e = tensor.empty() : tensor<1x1x6x6xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  %stuffed = tensor.insert_slice %x into %zeros[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 2, 2] : tensor<1x1x2x2xf32> into tensor<1x1x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%stuffed, %w : tensor<1x1x6x6xf32>, tensor<1x1x3x3xf32>) outs(%init : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}

// ConvTranspose2d(2, 2, 1, stride=(1, 2)) with a bias on a 1x3 input, then a ReLU (torch-mlir's: a compare
// and select with a tensor<f32> zero): the odd columns meet no tap, so that phase's filters are zeros (its
// outputs are the bias), and it has one output fewer than the even one, so the depth-to-space's 6 columns are
// sliced to 5. The bias is tiled over the two phases. The ReLU commutes with the interleave: it moves before
// it, where bcr-raise-sparse-layers fuses it into the conv's kernel.
#in4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar4 = affine_map<(d0, d1, d2, d3) -> ()>
// CHECK-LABEL: func.func @tapless_phase
// CHECK: %[[BIAS:.*]] = arith.constant dense<[5.000000e-01, -5.000000e-01, 5.000000e-01, -5.000000e-01]> : tensor<4xf32>
// CHECK: %[[B:.*]] = linalg.broadcast ins(%[[BIAS]] : tensor<4xf32>) outs(%{{.*}} : tensor<1x4x1x3xf32>) dimensions = [0, 2, 3]
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00]], {{\[\[}}2.000000e+00]]], {{\[\[\[}}3.000000e+00]], {{\[\[}}4.000000e+00]]], {{\[\[\[}}0.000000e+00]], {{\[\[}}0.000000e+00]]], {{\[\[\[}}0.000000e+00]], {{\[\[}}0.000000e+00]]]]> : tensor<4x2x1x1xf32>
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%arg0, %[[W]] : tensor<1x2x1x3xf32>, tensor<4x2x1x1xf32>) outs(%[[B]] : tensor<1x4x1x3xf32>)
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[Y]], %{{.*}} : tensor<1x4x1x3xf32>, tensor<f32>)
// CHECK: arith.select
// CHECK: tensor.expand_shape %[[A]]
// CHECK: linalg.transpose
// CHECK: %[[C:.*]] = tensor.collapse_shape {{.*}} into tensor<1x2x1x6xf32>
// CHECK: %[[R:.*]] = tensor.extract_slice %[[C]][0, 0, 0, 0] [1, 2, 1, 5] [1, 1, 1, 1]
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]
// REPORT: note: up: a stride-1x2 transposed conv runs as one conv of its 2 phases' filters stacked on a common 1x1 window, then a depth-to-space; its phases do 1.7x fewer multiply-adds
func.func @tapless_phase(%x: tensor<1x2x1x3xf32>) -> tensor<1x2x1x5xf32> {
  %zero = arith.constant 0.0 : f32
  %zero_tensor = arith.constant dense<0.0> : tensor<f32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32> loc("up")
  %bias = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %e = tensor.empty() : tensor<1x2x1x5xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x1x5xf32>) -> tensor<1x2x1x5xf32>
  %stuffed = tensor.insert_slice %x into %zeros[0, 0, 0, 0] [1, 2, 1, 3] [1, 1, 1, 2] : tensor<1x2x1x3xf32> into tensor<1x2x1x5xf32>
  %o = tensor.empty() : tensor<1x2x1x5xf32>
  %init = linalg.broadcast ins(%bias : tensor<2xf32>) outs(%o : tensor<1x2x1x5xf32>) dimensions = [0, 2, 3]
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%stuffed, %w : tensor<1x2x1x5xf32>, tensor<2x2x1x1xf32>) outs(%init : tensor<1x2x1x5xf32>) -> tensor<1x2x1x5xf32>
  %r = linalg.generic {indexing_maps = [#in4, #scalar4, #in4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y, %zero_tensor : tensor<1x2x1x5xf32>, tensor<f32>) outs(%o : tensor<1x2x1x5xf32>) {
  ^bb0(%in: f32, %z: f32, %out: f32):
    %gt = arith.cmpf ogt, %in, %z : f32
    %m = arith.select %gt, %in, %z : f32
    linalg.yield %m : f32
  } -> tensor<1x2x1x5xf32>
  return %r : tensor<1x2x1x5xf32>
}

// ConvTranspose2d(1, 1, 2, stride=2) (U-Net's up-conv) on 2x2: kernel = stride, so every phase reads the
// same window (the input itself) with one tap, and the stacked filters (taps 4, 3, 2, 1 for phases (0, 0),
// (0, 1), (1, 0), (1, 1)) hold no zeros.
// CHECK-LABEL: func.func @kernel_is_stride
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}4.000000e+00]]], {{\[\[\[}}3.000000e+00]]], {{\[\[\[}}2.000000e+00]]], {{\[\[\[}}1.000000e+00]]]]> : tensor<4x1x1x1xf32>
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%arg0, %[[W]] : tensor<1x1x2x2xf32>, tensor<4x1x1x1xf32>) {{.*}} -> tensor<1x4x2x2xf32>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0], [1, 2, 3], [4], [5]] output_shape [1, 2, 2, 1, 2, 2]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[E]] : tensor<1x2x2x1x2x2xf32>) outs(%{{.*}} : tensor<1x1x2x2x2x2xf32>) permutation = [0, 3, 4, 1, 5, 2]
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0], [1], [2, 3], [4, 5]] : tensor<1x1x2x2x2x2xf32> into tensor<1x1x4x4xf32>
// CHECK-NOT: tensor.insert_slice
// CHECK: return %[[R]]
// REPORT: note: up2x2: a stride-2x2 transposed conv runs as one conv of its 4 phases' filters stacked on a common 1x1 window, then a depth-to-space
func.func @kernel_is_stride(%x: tensor<1x1x2x2xf32>) -> tensor<1x1x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]]]> : tensor<1x1x2x2xf32> loc("up2x2")
  %e = tensor.empty() : tensor<1x1x5x5xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x5x5xf32>) -> tensor<1x1x5x5xf32>
  %stuffed = tensor.insert_slice %x into %zeros[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 2, 2] : tensor<1x1x2x2xf32> into tensor<1x1x5x5xf32>
  %o = tensor.empty() : tensor<1x1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%stuffed, %w : tensor<1x1x5x5xf32>, tensor<1x1x2x2xf32>) outs(%init : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}

// ConvTranspose1d(2, 2, 2, stride=2) on length 3: each phase meets one tap (phase 0 tap 1, phase 1 tap 0) of
// the same 1-tap window, the input itself, so the stacked filters [4, 2, 1] hold no zeros.
// CHECK-LABEL: func.func @conv1d
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[}}2.000000e+00], [4.000000e+00]], {{\[\[}}6.000000e+00], [8.000000e+00]], {{\[\[}}1.000000e+00], [3.000000e+00]], {{\[\[}}5.000000e+00], [7.000000e+00]]]> : tensor<4x2x1xf32>
// CHECK: %[[Y:.*]] = linalg.conv_1d_ncw_fcw {bcr.transposed_layer = {layer = "up1d", weights = 8 : i64}, {{.*}} ins(%arg0, %[[W]] : tensor<1x2x3xf32>, tensor<4x2x1xf32>) {{.*}} -> tensor<1x4x3xf32>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0], [1, 2], [3]] output_shape [1, 2, 2, 3]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[E]] : tensor<1x2x2x3xf32>) {{.*}} permutation = [0, 2, 3, 1]
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0], [1], [2, 3]] : tensor<1x2x3x2xf32> into tensor<1x2x6xf32>
// CHECK: return %[[R]]
// REPORT: note: up1d: a stride-2 transposed conv runs as one conv of its 2 phases' filters stacked on a common 1-tap window, then a depth-to-space; its phases do 2.0x fewer multiply-adds
func.func @conv1d(%x: tensor<1x2x3xf32>) -> tensor<1x2x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf32> loc("up1d")
  %e = tensor.empty() : tensor<1x2x7xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x7xf32>) -> tensor<1x2x7xf32>
  %stuffed = tensor.insert_slice %x into %zeros[0, 0, 1] [1, 2, 3] [1, 1, 2] : tensor<1x2x3xf32> into tensor<1x2x7xf32>
  %o = tensor.empty() : tensor<1x2x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  %y = linalg.conv_1d_ncw_fcw {dilations = dense<1> : vector<1xi64>, strides = dense<1> : vector<1xi64>} ins(%stuffed, %w : tensor<1x2x7xf32>, tensor<2x2x2xf32>) outs(%init : tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  return %y : tensor<1x2x6xf32>
}

// ConvTranspose2d(2, 1, 2) (stride 1) of a 1x1 input, as DCGAN's first layer: the input padded to 3x3 by a
// stride-1 insert. A one-pixel dim is stuffed at any stride, so it splits at one stride per output: each of the
// 4 output positions is a phase with one tap (output (a, b) reads tap (1 - a, 1 - b)), one 1x1 conv over the
// input itself (a matmul), which reads no padding.
// CHECK-LABEL: func.func @one_pixel
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}4.000000e+00]], {{\[\[}}8.000000e+00]]], {{\[\[\[}}3.000000e+00]], {{\[\[}}7.000000e+00]]], {{\[\[\[}}2.000000e+00]], {{\[\[}}6.000000e+00]]], {{\[\[\[}}1.000000e+00]], {{\[\[}}5.000000e+00]]]]> : tensor<4x2x1x1xf32>
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {bcr.transposed_layer = {layer = "latent", weights = 8 : i64}, {{.*}} ins(%arg0, %[[W]] : tensor<1x2x1x1xf32>, tensor<4x2x1x1xf32>) {{.*}} -> tensor<1x4x1x1xf32>
// CHECK: tensor.expand_shape %[[Y]]
// CHECK: linalg.transpose
// CHECK: %[[R:.*]] = tensor.collapse_shape {{.*}} into tensor<1x1x2x2xf32>
// CHECK: return %[[R]]
// REPORT: note: latent: a stride-1x1 transposed conv of a 1x1 input (each output position a phase) runs as one conv of its 4 phases' filters stacked on a common 1x1 window, then a depth-to-space; its phases do 4.0x fewer multiply-adds than the conv over its zero-padded input
func.func @one_pixel(%x: tensor<1x2x1x1xf32>) -> tensor<1x1x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]]> : tensor<1x2x2x2xf32> loc("latent")
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %padded = tensor.insert_slice %x into %zeros[0, 0, 1, 1] [1, 2, 1, 1] [1, 1, 1, 1] : tensor<1x2x1x1xf32> into tensor<1x2x3x3xf32>
  %o = tensor.empty() : tensor<1x1x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%padded, %w : tensor<1x2x3x3xf32>, tensor<1x2x2x2xf32>) outs(%init : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  return %y : tensor<1x1x2x2xf32>
}

// A conv over a plain zero pad (stride-1 insert: a padded input, not a stuffed one) is left alone, as is a
// dilated conv over a stuffed input.
// CHECK-LABEL: func.func @not_stuffed
// CHECK-COUNT-2: linalg.conv_2d_nchw_fchw {{.*}} ins(%inserted_slice
func.func @not_stuffed(%x: tensor<1x1x2x2xf32>) -> (tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<1x1x3x3xf32>
  %e = tensor.empty() : tensor<1x1x4x4xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %padded = tensor.insert_slice %x into %zeros[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 1, 1] : tensor<1x1x2x2xf32> into tensor<1x1x4x4xf32>
  %o = tensor.empty() : tensor<1x1x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%padded, %w : tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>) outs(%init : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %e5 = tensor.empty() : tensor<1x1x5x5xf32>
  %zeros5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<1x1x5x5xf32>) -> tensor<1x1x5x5xf32>
  %stuffed = tensor.insert_slice %x into %zeros5[0, 0, 1, 1] [1, 1, 2, 2] [1, 1, 2, 2] : tensor<1x1x2x2xf32> into tensor<1x1x5x5xf32>
  %o1 = tensor.empty() : tensor<1x1x1x1xf32>
  %init1 = linalg.fill ins(%zero : f32) outs(%o1 : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %d = linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%stuffed, %w : tensor<1x1x5x5xf32>, tensor<1x1x3x3xf32>) outs(%init1 : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  return %y, %d : tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32>
}
