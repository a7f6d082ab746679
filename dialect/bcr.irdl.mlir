// The `bcr` sparsity dialect, in IRDL.
//
// One file serves every consumer: bcr_mlir (torch_mlir's `irdl.load_dialects`), `bcr-opt`, and
// `iree-opt --irdl-file=dialect/bcr.irdl.mlir`. IRDL checks the structure (operand counts, attribute
// kinds, parameter kinds); the semantic rules it cannot express (a block fits its matrix, counts stay
// within their block, packed sizes agree) are checked by bcr_mlir.dialect.verify, which bcr-opt runs
// after parsing and after every pass.
//
// Ops and attributes print in generic form: "bcr.sparse_conv2d"(...) {layout = #bcr.bcr_layout<...>}.
//
// Weight matrices. Every layout describes a 2-D weight matrix W[rows, cols]:
//   conv2d  W[Cout, Cin*KH*KW]        (PyTorch's weight flattened in its own order)
//   conv3d  W[Cout, Cin*KD*KH*KW]
//   matmul  W[N, K]                    (y = x W^T, as nn.Linear and the RNN gate matrices)
irdl.dialect @bcr {

  // ---- Layouts ---------------------------------------------------------------------------------

  // GRIM's block-based column-row sparsity. W is cut into blocks of block[0] x block[1] (the last
  // block-row/column may be ragged); inside block (i, j), whole rows and whole columns are pruned.
  //   shape      = array<i64: rows, cols>          the weight matrix
  //   block      = array<i64: block_rows, block_cols>
  //   kept_rows  = array<i64: ...>  rows kept in each block, row-major over the block grid
  //   kept_cols  = array<i64: ...>  columns kept in each block, row-major over the block grid
  irdl.attribute @bcr_layout {
    %shape = irdl.base "#builtin.dense_array"
    %block = irdl.base "#builtin.dense_array"
    %kept_rows = irdl.base "#builtin.dense_array"
    %kept_cols = irdl.base "#builtin.dense_array"
    irdl.parameters(shape: %shape, block: %block, kept_rows: %kept_rows, kept_cols: %kept_cols)
  }

  // PatDNN's kernel patterns plus connectivity pruning, for KH x KW kernels.
  //   shape         = array<i64: Cout, Cin>
  //   kernel        = array<i64: KH, KW>
  //   patterns      = array<i64: ...>  the pattern set, each a bitmask over the KH*KW positions
  //                                    (bit kh*KW+kw); every kept kernel uses one of them
  //   kept_kernels  = the number of (out, in) kernels that survive connectivity pruning
  irdl.attribute @pattern_layout {
    %shape = irdl.base "#builtin.dense_array"
    %kernel = irdl.base "#builtin.dense_array"
    %patterns = irdl.base "#builtin.dense_array"
    %kept = irdl.base "#builtin.integer"
    irdl.parameters(shape: %shape, kernel: %kernel, patterns: %patterns, kept_kernels: %kept)
  }

  // Kernel-group sparsity (RT3D's KGS) and SparseByteNN's per-operator group sparsity. Output
  // channels are cut into groups of group[0], input channels into groups of group[1]; inside each
  // group every kernel keeps the same positions (for 1x1 convs and matmuls the group shares its
  // input-channel positions). A "position" is a matrix column: (input channel, kernel offset).
  //   shape          = array<i64: Cout, Cin>
  //   kernel         = array<i64: ...>  kernel extent (KD, KH, KW), (KH, KW) or () for matmul
  //   group          = array<i64: gM, gN>
  //   kept_positions = array<i64: ...>  kept columns per group (at most gN * prod(kernel)), row-major
  //                                     over the group grid
  irdl.attribute @group_layout {
    %shape = irdl.base "#builtin.dense_array"
    %kernel = irdl.base "#builtin.dense_array"
    %group = irdl.base "#builtin.dense_array"
    %kept = irdl.base "#builtin.dense_array"
    irdl.parameters(shape: %shape, kernel: %kernel, group: %group, kept_positions: %kept)
  }

  // Zeros without exploitable structure. Recorded for the report; such layers stay dense.
  irdl.attribute @unstructured_layout {
    %shape = irdl.base "#builtin.dense_array"
    %nnz = irdl.base "#builtin.integer"
    irdl.parameters(shape: %shape, nnz: %nnz)
  }

  // The code-generation schedule bcr-tune picks for one layer.
  //   vector_width   lanes per vector register
  //   block_rows     output rows (channels) whose accumulators share one input load
  //   tile           output tile per workgroup, array<i64: rows_of_output, cols_of_output[, sets]>;
  //                  the optional third entry (any axis) keeps that many independent
  //                  accumulator sets, summed after the reduction (more FMA chains in flight)
  //   unroll         unroll factor of the reduction loop
  //   vector_axis    0: lanes run along output positions; 1: lanes run along output channels;
  //                  2: along several output rows flattened; 3: along im2col-gathered positions;
  //                  4: along the unpadded output (tiles of whole rows), columns grouped by kernel tap;
  //                  5: along output channels, columns grouped by tap, border products skipped;
  //                  6: along output positions, stride-2 input read by two loads and a shuffle;
  //                  7: as 4, for stride 2 on the input split into its 4 phases (even/odd rows x columns)
  irdl.attribute @schedule {
    %vw = irdl.base "#builtin.integer"
    %br = irdl.base "#builtin.integer"
    %tile = irdl.base "#builtin.dense_array"
    %unroll = irdl.base "#builtin.integer"
    %axis = irdl.base "#builtin.integer"
    irdl.parameters(vector_width: %vw, block_rows: %br, tile: %tile, unroll: %unroll, vector_axis: %axis)
  }

  // ---- Sparse contractions over a dense weight with a claimed layout ----------------------------
  // The weight still holds its zeros; `layout` says where they are. Produced by
  // bcr-raise-sparse-layers, consumed by bcr-compress-weights.

  // y = act(conv2d(input, weight) + bias). `input` is already padded (NCHW); strides and dilations
  // follow linalg.conv_2d_nchw_fchw.
  irdl.operation @sparse_conv2d {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_pattern = irdl.base @bcr::@pattern_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_pattern, %is_group)
    %strides = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, weight: %weight, bias: %bias)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "strides" = %strides, "dilations" = %dilations,
                     "activation" = %act, "layer" = %name}
  }

  // y = act(conv3d(input, weight) + bias), NCDHW, input already padded.
  irdl.operation @sparse_conv3d {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_group)
    %strides = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, weight: %weight, bias: %bias)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "strides" = %strides, "dilations" = %dilations,
                     "activation" = %act, "layer" = %name}
  }

  // y[M, N] = act(input[M, K] * weight[N, K]^T + bias[N]): nn.Linear and the RNN gate matmuls.
  irdl.operation @sparse_matmul {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_group)
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, weight: %weight, bias: %bias)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "activation" = %act, "layer" = %name}
  }

  // ---- The same contractions over compact storage ------------------------------------------------
  // Produced by bcr-compress-weights. Every layout packs into the same four tensors: output rows are
  // taken in groups of G (the register block chosen by bcr-eliminate-redundant-loads), and the rows of
  // a group share one list of input columns, so one input load feeds all G rows. (IRDL binds all
  // operands of a variadic to one type, so the slots are fixed and named.)
  //   rows     i32[R]          packed row i computes output row rows[i] (the filter order chosen by
  //                            bcr-reorder-filters; stores go straight to their row: no shuffle pass)
  //   offsets  i32[R/G + 1]    group g owns columns offsets[g] .. offsets[g+1]
  //   indices  i32[nnz]        the input columns (matrix view: input channel x kernel position)
  //   values   f32/f16[nnz, G] values[j, r] = W[rows[g*G + r], indices[j]] (0 where that row skips it)
  // R is the row count rounded up to a multiple of G; padding rows repeat the last row and are never stored.
  // Optional attributes: `schedule` (bcr-tune's pick) and `reduction` = "max" (a max-pool from
  // bcr-raise-max-pools: the maximum over each row's columns, the values unread; the bias starts it).
  // An optional seventh operand `residual`, shaped as the result, is added before the activation:
  //   output = activation(bias + W x + residual)     (bcr-fuse-residual-adds: a ResNet/MobileNet skip)
  irdl.operation @packed_conv2d {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %residual = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_pattern = irdl.base @bcr::@pattern_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_pattern, %is_group)
    %strides = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %kernel = irdl.base "#builtin.dense_array"
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  residual: optional %residual)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "strides" = %strides, "dilations" = %dilations,
                     "kernel" = %kernel, "activation" = %act, "layer" = %name}
  }

  irdl.operation @packed_conv3d {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %residual = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_group)
    %strides = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %kernel = irdl.base "#builtin.dense_array"
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  residual: optional %residual)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "strides" = %strides, "dilations" = %dilations,
                     "kernel" = %kernel, "activation" = %act, "layer" = %name}
  }

  irdl.operation @packed_matmul {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %residual = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_group)
    %act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  residual: optional %residual)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "activation" = %act, "layer" = %name}
  }

  // A packed 1x1 conv (the first six operands, as in packed_conv2d) whose output, zero-padded by 1 on
  // both spatial sides, feeds a 3x3 depthwise conv (bcr-fuse-expand-depthwise; generated as one kernel):
  //   output = depthwise_activation(dw(pad(activation(bias + W x)), depthwise_taps, strides) + depthwise_bias)
  // depthwise_bias is f32/f16[C], depthwise_taps f32/f16[C, 3, 3]; `layer` names the 1x1 conv and
  // `depthwise_layer` the depthwise one; `strides` are the depthwise conv's (1 or 2 on both dims).
  irdl.operation @packed_expand_depthwise {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %dw_bias = irdl.base "!builtin.tensor"
    %dw_taps = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_pattern = irdl.base @bcr::@pattern_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_pattern, %is_group)
    %strides = irdl.base "#builtin.dense_array"
    %act = irdl.base "#builtin.string"
    %dw_act = irdl.base "#builtin.string"
    %name = irdl.base "#builtin.string"
    %dw_name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  depthwise_bias: %dw_bias, depthwise_taps: %dw_taps)
    irdl.results(output: %out)
    irdl.attributes {"layout" = %layout, "strides" = %strides, "activation" = %act,
                     "depthwise_activation" = %dw_act, "layer" = %name, "depthwise_layer" = %dw_name}
  }

  // A packed batch-1 matmul whose output, cut into `gates` equal slices along its features, feeds only an
  // elementwise cell (bcr-fuse-gate-cells; a GRU's or an LSTM's gate arithmetic). `cell` names a scalar
  // func.func in the module taking one value per gate, then one per `cell_inputs` operand, and returning
  // one value per result (an LSTM's cell returns c and h); each output holds the cell applied at each of
  // the H = features / gates positions:
  //   outputs[k][i] = cell((bias + W x)[i], (bias + W x)[H + i], ..., cell_inputs[0][i], ...)#k
  // Every cell input and output holds H values (any shape whose other dims are 1), all outputs one type.
  irdl.operation @packed_gate_cell {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %cell_inputs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %is_bcr = irdl.base @bcr::@bcr_layout
    %is_group = irdl.base @bcr::@group_layout
    %layout = irdl.any_of(%is_bcr, %is_group)
    %gates = irdl.base "#builtin.integer"
    %cell = irdl.base "#builtin.symbol_ref"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  cell_inputs: variadic %cell_inputs)
    irdl.results(outputs: variadic %out)
    irdl.attributes {"layout" = %layout, "gates" = %gates, "cell" = %cell, "layer" = %name}
  }

  // ---- A generated kernel launch ------------------------------------------------------------------
  // Produced by bcr-lower-to-kernels. `kernel` names a func.func in the module that takes the three
  // workgroup ids (index), then one memref per operand, then the output memref; `workgroups` is the
  // grid. The IREE hand-off wraps that function into a stream.executable and this op into a
  // flow.dispatch. Operands are those of the packed op, re-laid-out for the kernel, then its epilogue's:
  // a fused residual, or a gate cell's inputs. It has one result, or a gate cell's outputs. An optional
  // `blocks_per_workgroup` (i64) has each IREE workgroup run that many consecutive ids along x.
  irdl.operation @dispatch {
    %input = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %rows = irdl.base "!builtin.tensor"
    %offsets = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %values = irdl.base "!builtin.tensor"
    %epilogue = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %kernel = irdl.base "#builtin.symbol_ref"
    %count = irdl.base "#builtin.dense_array"
    %name = irdl.base "#builtin.string"
    irdl.operands(input: %input, bias: %bias, rows: %rows, offsets: %offsets, indices: %indices, values: %values,
                  epilogue: variadic %epilogue)
    irdl.results(outputs: variadic %out)
    irdl.attributes {"kernel" = %kernel, "workgroups" = %count, "layer" = %name}
  }
}
