// RUN: bcr-opt %s --target vulkan -p 'bcr-fusion-barriers' | FileCheck %s
// RUN: bcr-opt %s --target x86-host -p 'bcr-fusion-barriers' | FileCheck %s --check-prefix=CPU

// A 3x3 conv to one channel, then a 1x1 conv that broadcasts the map over 7 channels: IREE 3.13 fuses
// the two into one Vulkan dispatch and miscompiles it, so the map goes through a barrier.
// CHECK-LABEL: func.func @one_channel_map
// CHECK: %[[MAP:.*]] = linalg.conv_2d_nchw_fchw {{.*}} -> tensor<2x1x5x9xf32>
// CHECK-NEXT: %[[KEPT:.*]] = call @__bcr_barrier_2x1x5x9xf32(%[[MAP]]) : (tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[KEPT]], %{{.*}} : tensor<2x1x5x9xf32>, tensor<7x1x1x1xf32>)
// CPU-LABEL: func.func @one_channel_map
// CPU-NOT: call @__bcr_barrier
func.func @one_channel_map(%x: tensor<2x1x7x11xf32>, %w: tensor<1x1x3x3xf32>, %w2: tensor<7x1x1x1xf32>) -> tensor<2x7x5x9xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x1x5x9xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
  %map = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<2x1x7x11xf32>, tensor<1x1x3x3xf32>) outs(%f : tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
  %e2 = tensor.empty() : tensor<2x7x5x9xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x7x5x9xf32>) -> tensor<2x7x5x9xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%map, %w2 : tensor<2x1x5x9xf32>, tensor<7x1x1x1xf32>) outs(%f2 : tensor<2x7x5x9xf32>) -> tensor<2x7x5x9xf32>
  return %y : tensor<2x7x5x9xf32>
}

// A conv to two channels is left alone.
// CHECK-LABEL: func.func @two_channels
// CHECK-NOT: call @__bcr_barrier
func.func @two_channels(%x: tensor<2x1x7x11xf32>, %w: tensor<2x1x3x3xf32>) -> tensor<2x2x5x9xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2x5x9xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2x5x9xf32>) -> tensor<2x2x5x9xf32>
  %map = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<2x1x7x11xf32>, tensor<2x1x3x3xf32>) outs(%f : tensor<2x2x5x9xf32>) -> tensor<2x2x5x9xf32>
  return %map : tensor<2x2x5x9xf32>
}

// CHECK: func.func private @__bcr_barrier_2x1x5x9xf32(tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
