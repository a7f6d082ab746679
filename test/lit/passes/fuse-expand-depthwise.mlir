// RUN: bcr-opt %s --target arm64-android -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-compress-weights,bcr-fuse-expand-depthwise' --bcr-report 2>%t.report | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.report
// RUN: bcr-opt %s --target arm64-android -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-compress-weights,bcr-fuse-expand-depthwise,bcr-lower-to-kernels' | FileCheck %s --check-prefix=KERNEL
// RUN: bcr-opt %s --target vulkan -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-compress-weights,bcr-fuse-expand-depthwise' | FileCheck %s --check-prefix=VULKAN
// RUN: not bcr-opt %s --target arm64-android -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-compress-weights,bcr-fuse-expand-depthwise,bcr-densify' 2>&1 | FileCheck %s --check-prefix=DENSIFY
// RUN: bcr-opt %s --target x86-host -p 'bcr-raise-sparse-layers{min-macs=0},canonicalize,bcr-tune{measure=0}' --bcr-report 2>&1 >/dev/null | FileCheck %s --check-prefix=TUNE
// A pass that lowers one layer at a time refuses the fused pair instead of dropping it.
// DENSIFY: error: pass 'bcr-densify' failed: layers 'wide_expand' and 'wide_dw' are fused into one bcr.packed_expand_depthwise, which bcr-densify does not lower
// DENSIFY-NEXT: fix: run bcr-fuse-expand-depthwise only in CPU pipelines

#nchw = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// A group-sparse 1x1 conv (8 -> 8 channels, 4x less work) with its ReLU6, zero-padded by 1, then a
// 3x3 depthwise conv of stride 2: one op, the pad gone; the depthwise weights are its last two operands.
// CHECK-LABEL: func.func @wide
// CHECK-NOT: tensor.pad
// CHECK: %[[F:.*]] = "bcr.packed_expand_depthwise"(%arg0, {{.*}}) {activation = "relu6", depthwise_activation = "none", depthwise_layer = "wide_dw", layer = "wide_expand"
// CHECK-SAME: strides = array<i64: 2, 2>} : (tensor<1x8x32x32xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<4xi32>, tensor<4x8xf32>, tensor<8xf32>, tensor<8x3x3xf32>) -> tensor<1x8x16x16xf32>
// CHECK-NEXT: return %[[F]]
// REPORT: wide_expand {{.*}} fused with 'wide_dw'
// REPORT: wide_dw {{.*}} fused with 'wide_expand'
// REPORT: note: 1 expand conv(s) fused into the depthwise conv(s) they feed
// bcr-tune leaves the pair alone (its schedules would go unused), before the 1x1 conv is even packed.
// TUNE: wide_expand {{.*}} not tuned: runs as one kernel with 'wide_dw' (bcr-fuse-expand-depthwise)
// TUNE: wide_dw {{.*}} not tuned: runs as one kernel with 'wide_expand' (bcr-fuse-expand-depthwise)
// One kernel: one block of 8 channels, 4 workgroups of 4 output rows (more workgroups to share out, but
// not of fewer rows), the 9 expanded rows each needs on the stack, the stride-2 taps read with two loads
// and a shuffle.
// KERNEL-LABEL: func.func @wide
// KERNEL-NOT: tensor.pad
// KERNEL: "bcr.dispatch"(%arg0, {{.*}}) {kernel = @bcr_kernel_wide_expand, layer = "wide_expand", workgroups = array<i64: 1, 4, 1>} : (tensor<1x8x32x32xf32>, tensor<88xf32>, {{.*}}) -> tensor<1x8x16x16xf32>
// KERNEL: func.func private @bcr_kernel_wide_expand(
// KERNEL: memref.alloca() : memref<9x8x36xf32>
// KERNEL: vector.shuffle
// VULKAN-LABEL: func.func @wide
// VULKAN-NOT: bcr.packed_expand_depthwise

func.func @wide(%x: tensor<1x8x32x32xf32>) -> (tensor<1x8x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w = arith.constant dense<[[[[0.5]], [[0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[-0.25]], [[-0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.75]], [[1.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.5]], [[0.25]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[-0.5]], [[0.125]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[1.0]], [[0.5]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.25]], [[-0.25]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.125]], [[0.75]], [[0.0]], [[0.0]]]]> : tensor<8x8x1x1xf32> loc("wide_expand")
  %e = tensor.empty() : tensor<1x8x32x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x32x32xf32>) -> tensor<1x8x32x32xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x8x32x32xf32>, tensor<8x8x1x1xf32>) outs(%f : tensor<1x8x32x32xf32>) -> tensor<1x8x32x32xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x8x32x32xf32>) outs(%e : tensor<1x8x32x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  } -> tensor<1x8x32x32xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x32x32xf32> to tensor<1x8x34x34xf32>
  %dw4 = arith.constant dense<0.125> : tensor<8x1x3x3xf32> loc("wide_dw")
  %dw = tensor.collapse_shape %dw4 [[0, 1], [2], [3]] : tensor<8x1x3x3xf32> into tensor<8x3x3xf32>
  %e2 = tensor.empty() : tensor<1x8x16x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %d = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%p, %dw : tensor<1x8x34x34xf32>, tensor<8x3x3xf32>) outs(%f2 : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  return %d : tensor<1x8x16x16xf32>
}

// The expand's output is also returned: it has to be written anyway, so nothing is fused.
// CHECK-LABEL: func.func @used_twice
// CHECK-NOT: bcr.packed_expand_depthwise
// CHECK: tensor.pad
func.func @used_twice(%x: tensor<1x8x16x16xf32>) -> (tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w = arith.constant dense<[[[[0.5]], [[0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[-0.25]], [[-0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.75]], [[1.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.5]], [[0.25]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[-0.5]], [[0.125]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[1.0]], [[0.5]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.25]], [[-0.25]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.125]], [[0.75]], [[0.0]], [[0.0]]]]> : tensor<8x8x1x1xf32> loc("used_twice_expand")
  %e = tensor.empty() : tensor<1x8x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x8x16x16xf32>, tensor<8x8x1x1xf32>) outs(%f : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  } -> tensor<1x8x16x16xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x16x16xf32> to tensor<1x8x18x18xf32>
  %dw4 = arith.constant dense<0.125> : tensor<8x1x3x3xf32> loc("used_twice_dw")
  %dw = tensor.collapse_shape %dw4 [[0, 1], [2], [3]] : tensor<8x1x3x3xf32> into tensor<8x3x3xf32>
  %e2 = tensor.empty() : tensor<1x8x16x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %d = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%p, %dw : tensor<1x8x18x18xf32>, tensor<8x3x3xf32>) outs(%f2 : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  return %d, %r : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>
}

// Output rows of 3 values, narrower than a vector (4 lanes on arm64): the separate kernels flatten
// several rows per vector, so the pair stays apart.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: bcr.packed_expand_depthwise
// CHECK: tensor.pad
func.func @narrow(%x: tensor<1x8x6x6xf32>) -> (tensor<1x8x3x3xf32>) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w = arith.constant dense<[[[[0.5]], [[0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[-0.25]], [[-0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.75]], [[1.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.5]], [[0.25]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[-0.5]], [[0.125]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[1.0]], [[0.5]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.25]], [[-0.25]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.125]], [[0.75]], [[0.0]], [[0.0]]]]> : tensor<8x8x1x1xf32> loc("narrow_expand")
  %e = tensor.empty() : tensor<1x8x6x6xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x8x6x6xf32>, tensor<8x8x1x1xf32>) outs(%f : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x8x6x6xf32>) outs(%e : tensor<1x8x6x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  } -> tensor<1x8x6x6xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x6x6xf32> to tensor<1x8x8x8xf32>
  %dw4 = arith.constant dense<0.125> : tensor<8x1x3x3xf32> loc("narrow_dw")
  %dw = tensor.collapse_shape %dw4 [[0, 1], [2], [3]] : tensor<8x1x3x3xf32> into tensor<8x3x3xf32>
  %e2 = tensor.empty() : tensor<1x8x3x3xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  %d = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%p, %dw : tensor<1x8x8x8xf32>, tensor<8x3x3xf32>) outs(%f2 : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %d : tensor<1x8x3x3xf32>
}

// Rows of 300: a ring of 3 rows of the 8-channel block would take 29 KB of stack, over the 24 KB the
// fused kernel may use, so the pair stays apart.
// CHECK-LABEL: func.func @too_wide
// CHECK-NOT: bcr.packed_expand_depthwise
// CHECK: tensor.pad
func.func @too_wide(%x: tensor<1x8x300x300xf32>) -> tensor<1x8x300x300xf32> {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w = arith.constant dense<[[[[0.5]], [[0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[-0.25]], [[-0.5]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.75]], [[1.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.5]], [[0.25]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[-0.5]], [[0.125]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[1.0]], [[0.5]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.25]], [[-0.25]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.125]], [[0.75]], [[0.0]], [[0.0]]]]> : tensor<8x8x1x1xf32> loc("too_wide_expand")
  %e = tensor.empty() : tensor<1x8x300x300xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x300x300xf32>) -> tensor<1x8x300x300xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x8x300x300xf32>, tensor<8x8x1x1xf32>) outs(%f : tensor<1x8x300x300xf32>) -> tensor<1x8x300x300xf32>
  %r = linalg.generic {indexing_maps = [#nchw, #nchw], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x8x300x300xf32>) outs(%e : tensor<1x8x300x300xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    %n = arith.minimumf %m, %six : f32
    linalg.yield %n : f32
  } -> tensor<1x8x300x300xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x300x300xf32> to tensor<1x8x302x302xf32>
  %dw4 = arith.constant dense<0.125> : tensor<8x1x3x3xf32> loc("too_wide_dw")
  %dw = tensor.collapse_shape %dw4 [[0, 1], [2], [3]] : tensor<8x1x3x3xf32> into tensor<8x3x3xf32>
  %e2 = tensor.empty() : tensor<1x8x300x300xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x8x300x300xf32>) -> tensor<1x8x300x300xf32>
  %d = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%p, %dw : tensor<1x8x302x302xf32>, tensor<8x3x3xf32>) outs(%f2 : tensor<1x8x300x300xf32>) -> tensor<1x8x300x300xf32>
  return %d : tensor<1x8x300x300xf32>
}
