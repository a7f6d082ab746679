// RUN: bcr-opt %s -p 'bcr-zero-pool-padding,bcr-raise-max-pools{min-macs=0}' | FileCheck %s
// RUN: bcr-opt %s --target vulkan -p 'bcr-raise-max-pools{min-macs=0}' | FileCheck %s --check-prefix=GPU

#nchw = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// ResNet's stem pool: a ReLU output, padded with -inf (now 0), 3x3 stride 2. It becomes a packed conv
// with a max reduction: one row per channel, its 9 taps, zero bias.
// CHECK-LABEL: func.func @pool2d
// CHECK-NOT: linalg.pooling_nchw_max
// CHECK: "bcr.packed_conv2d"(%{{.*}}) {activation = "none", dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, layer = "max_pool_1"
// CHECK-SAME: layout = #bcr.group_layout<array<i64: 2, 2>, array<i64: 3, 3>, array<i64: 1, 2>, array<i64: 9, 9>>, reduction = "max", strides = array<i64: 2, 2>
// GPU-LABEL: func.func @pool2d
// GPU: linalg.pooling_nchw_max
func.func @pool2d(%x: tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x8x8xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x8x8xf32>) outs(%e : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %gt = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %gt, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x2x8x8xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f32
  } : tensor<1x2x8x8xf32> to tensor<1x2x10x10xf32>
  %o = tensor.empty() : tensor<1x2x4x4xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%o : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %w = tensor.empty() : tensor<3x3xf32>
  %m = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%p, %w : tensor<1x2x10x10xf32>, tensor<3x3xf32>) outs(%f : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %m : tensor<1x2x4x4xf32>
}

// C3D's 1x2x2 pool as torch-mlir emits it: a generic reducing with maximumf, strides in its input map.
#in3 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2 + d5, d3 * 2 + d6, d4 * 2 + d7)>
#win3 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d5, d6, d7)>
#out3 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
#ncdhw = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @pool3d
// CHECK: "bcr.packed_conv3d"(%{{.*}}) {activation = "none", dilations = array<i64: 1, 1, 1>, kernel = array<i64: 1, 2, 2>, layer = "max_pool_2"
// CHECK-SAME: reduction = "max", strides = array<i64: 1, 2, 2>
func.func @pool3d(%x: tensor<1x2x4x8x8xf32>) -> tensor<1x2x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x4x8x8xf32>
  %r = linalg.generic {indexing_maps = [#ncdhw, #ncdhw], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x4x8x8xf32>) outs(%e : tensor<1x2x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %gt = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %gt, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x8x8xf32>
  %o = tensor.empty() : tensor<1x2x4x4x4xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%o : tensor<1x2x4x4x4xf32>) -> tensor<1x2x4x4x4xf32>
  %w = tensor.empty() : tensor<1x2x2xf32>
  %m = linalg.generic {indexing_maps = [#in3, #win3, #out3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%r, %w : tensor<1x2x4x8x8xf32>, tensor<1x2x2xf32>) outs(%f : tensor<1x2x4x4x4xf32>) {
  ^bb0(%in: f32, %win: f32, %out: f32):
    %mx = arith.maximumf %in, %out : f32
    linalg.yield %mx : f32
  } -> tensor<1x2x4x4x4xf32>
  return %m : tensor<1x2x4x4x4xf32>
}

// A pool over an input that may be negative stays with IREE (its kernel starts from 0).
// CHECK-LABEL: func.func @signed_pool
// CHECK: linalg.pooling_nchw_max
// CHECK-NOT: bcr.packed_conv2d
func.func @signed_pool(%x: tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %o = tensor.empty() : tensor<1x2x4x4xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%o : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%x, %w : tensor<1x2x8x8xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %m : tensor<1x2x4x4xf32>
}

// The same pool in an f16 model: an f16 kernel (its taps, unread by the max, stored as f16). In bf16, a
// type the kernels do not take, it stays a linalg pool.
// CHECK-LABEL: func.func @pool2d_f16
// CHECK: arith.constant dense<1.000000e+00> : tensor<18x1xf16>
// CHECK: "bcr.packed_conv2d"{{.*}}reduction = "max"{{.*}} -> tensor<1x2x4x4xf16>
// CHECK-LABEL: func.func @pool2d_bf16
// CHECK: linalg.pooling_nchw_max
func.func @pool2d_f16(%x: tensor<1x2x8x8xf16>) -> tensor<1x2x4x4xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %e = tensor.empty() : tensor<1x2x8x8xf16>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x8x8xf16>) outs(%e : tensor<1x2x8x8xf16>) {
  ^bb0(%in: f16, %out: f16):
    %gt = arith.cmpf ugt, %in, %zero : f16
    %s = arith.select %gt, %in, %zero : f16
    linalg.yield %s : f16
  } -> tensor<1x2x8x8xf16>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f16
  } : tensor<1x2x8x8xf16> to tensor<1x2x10x10xf16>
  %o = tensor.empty() : tensor<1x2x4x4xf16>
  %f = linalg.fill ins(%ninf : f16) outs(%o : tensor<1x2x4x4xf16>) -> tensor<1x2x4x4xf16>
  %w = tensor.empty() : tensor<3x3xf16>
  %m = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%p, %w : tensor<1x2x10x10xf16>, tensor<3x3xf16>) outs(%f : tensor<1x2x4x4xf16>) -> tensor<1x2x4x4xf16>
  return %m : tensor<1x2x4x4xf16>
}

func.func @pool2d_bf16(%x: tensor<1x2x8x8xbf16>) -> tensor<1x2x4x4xbf16> {
  %zero = arith.constant 0.0 : bf16
  %e = tensor.empty() : tensor<1x2x8x8xbf16>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x8x8xbf16>) outs(%e : tensor<1x2x8x8xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %gt = arith.cmpf ugt, %in, %zero : bf16
    %s = arith.select %gt, %in, %zero : bf16
    linalg.yield %s : bf16
  } -> tensor<1x2x8x8xbf16>
  %o = tensor.empty() : tensor<1x2x4x4xbf16>
  %f = linalg.fill ins(%zero : bf16) outs(%o : tensor<1x2x4x4xbf16>) -> tensor<1x2x4x4xbf16>
  %w = tensor.empty() : tensor<2x2xbf16>
  %m = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%r, %w : tensor<1x2x8x8xbf16>, tensor<2x2xbf16>) outs(%f : tensor<1x2x4x4xbf16>) -> tensor<1x2x4x4xbf16>
  return %m : tensor<1x2x4x4xbf16>
}
