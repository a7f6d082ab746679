"""Constant weights as numpy arrays, and back.

torch-mlir imports weights as `dense_resource<name>` constants, and the Python bindings cannot read a
resource's bytes. So every compilation carries a WeightTable: resource name -> raw bytes. It is filled
by the importer (which sees the torch tensors), or by parsing the `dialect_resources` section of an
.mlir file (bcr-opt). Passes read constants through `WeightTable.array(value)` and create new ones
through `WeightTable.constant(...)`, which registers the bytes under the name MLIR chose.
"""
from __future__ import annotations

import re

import numpy as np

from bcr_mlir import ir

_RESOURCE_ENTRY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w.$-]+)\s*:\s*"0x([0-9A-Fa-f]*)"', re.M)
_RESOURCE_NAME = re.compile(r'dense_resource<("(?:[^"\\]|\\.)*"|[^>]+)>')

INLINE_ELEMENTS = 64  # constants up to this size print inline

_NUMPY_OF_ELEMENT = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i32": np.int32,
                     "i64": np.int64, "i8": np.int8, "i1": np.bool_, "ui8": np.uint8, "bf16": None}


def element_dtype(element_type: ir.Type) -> np.dtype:
    dtype = _NUMPY_OF_ELEMENT.get(str(element_type))
    if dtype is None:
        raise ValueError(f"no numpy type for MLIR element type {element_type}")
    return np.dtype(dtype)


def value_dtype(value: ir.Value) -> np.dtype | None:
    """The numpy type of a ranked tensor value's elements; None for a type numpy has no match for (bf16)."""
    try:
        return element_dtype(ir.RankedTensorType(value.type).element_type)
    except ValueError:
        return None


def tensor_type(shape, dtype) -> ir.RankedTensorType:
    element = {np.dtype(np.float32): ir.F32Type, np.dtype(np.float16): ir.F16Type,
               np.dtype(np.float64): ir.F64Type}.get(np.dtype(dtype))
    if element is not None:
        element = element.get()
    else:
        element = ir.IntegerType.get_signless(np.dtype(dtype).itemsize * 8)
    return ir.RankedTensorType.get(list(shape), element)


def resource_name(attr: ir.Attribute) -> str | None:
    match = _RESOURCE_NAME.search(str(attr))
    if not match:
        return None
    name = match.group(1)
    return name[1:-1] if name.startswith('"') else name


class WeightTable:
    """Resource name -> little-endian bytes of the constant (without the 4-byte alignment header)."""

    def __init__(self):
        self._blobs: dict[str, bytes] = {}
        self._arrays: dict[str, np.ndarray] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._blobs or name in self._arrays

    def add(self, name: str, array: np.ndarray) -> None:
        self._arrays[name] = np.ascontiguousarray(array)

    @classmethod
    def from_mlir_text(cls, text: str) -> "WeightTable":
        """Reads the blobs of the `dialect_resources: { builtin: {...} }` section of a module's text."""
        table = cls()
        start = text.rfind("{-#")
        if start < 0:
            return table
        for name, hexdata in _RESOURCE_ENTRY.findall(text[start:]):
            if name.startswith('"'):
                name = name[1:-1]
            try:
                table._blobs[name] = bytes.fromhex(hexdata)[4:]
            except ValueError:
                from bcr_mlir.errors import BcrError
                raise BcrError(f"resource '{name}' in the dialect_resources section is not valid hex "
                               f"({len(hexdata)} hex digits)", "write the blob as \"0x\" followed by an even number "
                               "of hex digits: a 4-byte alignment header, then the tensor's bytes") from None
        return table

    def array_of_attr(self, attr: ir.Attribute) -> np.ndarray | None:
        """The value of a dense or dense_resource elements attribute, or None if it has no data here."""
        shaped = ir.ShapedType(attr.type)
        dtype = element_dtype(shaped.element_type)
        shape = tuple(shaped.shape)
        if isinstance(attr, ir.DenseResourceElementsAttr) or str(attr).startswith("dense_resource<"):
            name = resource_name(attr)
            if name in self._arrays:
                return self._arrays[name].reshape(shape)
            blob = self._blobs.get(name)
            if blob is None:
                return None
            array = np.frombuffer(blob, dtype=dtype)
            if array.size != int(np.prod(shape)):
                return None
            self._arrays[name] = array.reshape(shape)
            return self._arrays[name]
        if isinstance(attr, ir.DenseElementsAttr) or str(attr).startswith("dense<"):
            dense = ir.DenseElementsAttr(attr)
            if dense.is_splat:
                splat = dense.get_splat_value()
                scalar = splat.value if hasattr(splat, "value") else float(str(splat).split(":")[0])
                return np.full(shape, scalar, dtype=dtype)
            return np.array(dense).astype(dtype).reshape(shape)
        return None

    def array(self, value: ir.Value) -> np.ndarray | None:
        """The constant behind an SSA value (`arith.constant`), or None if it is not a known constant."""
        owner = value.owner
        if not isinstance(owner, ir.Operation) and hasattr(owner, "operation"):
            owner = owner.operation
        if not isinstance(owner, ir.Operation) or owner.name != "arith.constant":
            return None
        return self.array_of_attr(owner.attributes["value"])

    def constant_attr(self, array: np.ndarray, name: str, keep_name: bool = False) -> ir.Attribute:
        """An attribute holding `array`: inline dense<...> when small (readable IR), otherwise a
        dense_resource registered here under the name MLIR picks. `keep_name`: a dense_resource whatever the
        size (a model parameter: the layer report and the pruning metadata find layers by that name)."""
        array = np.ascontiguousarray(array).reshape(np.shape(array))  # ascontiguousarray makes a 0-d array 1-d
        if array.size <= INLINE_ELEMENTS and not keep_name:
            return ir.DenseElementsAttr.get(array, type=tensor_type(array.shape, array.dtype))
        attr = ir.DenseResourceElementsAttr.get_from_buffer(array, name, tensor_type(array.shape, array.dtype))
        self._arrays[resource_name(attr)] = array
        return attr

    def constant(self, array: np.ndarray, name: str, keep_name: bool = False) -> ir.Value:
        """Builds `arith.constant dense_resource<name>` at the current insertion point (small arrays inline
        unless `keep_name`, see constant_attr)."""
        attr = self.constant_attr(array, name, keep_name)
        return ir.arith.ConstantOp(attr.type, attr).result
