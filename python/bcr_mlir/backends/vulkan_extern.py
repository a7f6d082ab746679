"""Vulkan hand-off of the generated GLSL kernels: GLSL -> SPIR-V (glslangValidator) -> hal.dispatch.extern.

bcr-lower-to-gpu-kernels leaves each sparse layer as a `bcr.dispatch` of a private func.func
declaration carrying the shader (`bcr.glsl`), its bound operand slots (`bcr.bindings`) and the IREE
Vulkan target. Here, inside `to_iree_text`:

* the shader is compiled by Debian's glslangValidator (package glslang-tools) into a content-hashed
  cache ($BCR_CACHE_DIR, else $XDG_CACHE_HOME/bcr-mlir/spirv, else ~/.cache/bcr-mlir/spirv);
* the dispatch becomes a call to a stub, so the module prints as usual; the printed call is then
  replaced by

      %r = hal.dispatch.extern "main"(%x, %params) : (tensor<...>, tensor<...>) -> tensor<...>
        count(%device: !hal.device) -> (index, index, index) { ...the static grid... }
        layout(#hal.pipeline.layout<bindings = [<storage_buffer, ReadOnly> per operand, <storage_buffer>]>)
        objects({#hal.executable.target<"vulkan-spirv", ...> ordinal(0) =
                 [#hal.executable.object<{data = dense<"0x..."> : vector<Nxi8>}>]})

  with the SPIR-V embedded (the module text is self-contained, whatever happens to the cache) and
  the executable target that IREE itself uses for `--iree-vulkan-target=<gpu>`, asked from
  iree-compile once per process, so extern and IREE-generated dispatches share one device.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bcr_mlir import ir
from bcr_mlir.dialect import int_array
from bcr_mlir.errors import BcrError

GLSL_ATTR = "bcr.glsl"
STUB = "__bcr_extern_"
GLSLANG = "glslangValidator"


def glslang() -> str:
    path = shutil.which(GLSLANG)
    if path is None:
        raise BcrError("glslangValidator not found: it compiles the generated Vulkan kernels to SPIR-V",
                       "install glslang-tools (apt-get install glslang-tools; make setup does)")
    return path


def cache_dir() -> Path:
    root = os.environ.get("BCR_CACHE_DIR")
    if root:
        path = Path(root) / "spirv"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "bcr-mlir" / "spirv"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"bcr-mlir-spirv-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def compile_glsl(source: str) -> bytes:
    """SPIR-V for a GLSL compute shader (cached by content)."""
    tool = glslang()
    key = hashlib.sha256(source.encode()).hexdigest()[:32]
    directory = cache_dir()
    spv = directory / f"{key}.spv"
    if spv.is_file():
        return spv.read_bytes()
    glsl = directory / f"{key}.comp"
    glsl.write_text(source)
    partial = directory / f"{key}.{os.getpid()}.spv.partial"
    result = subprocess.run([tool, "-V", "-S", "comp", str(glsl), "-o", str(partial)], capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).splitlines()
        first = next((line for line in lines if "ERROR" in line), lines[0] if lines else "no output")
        raise BcrError(f"glslangValidator rejected a generated shader: {first.strip()[:300]}",
                       f"this is a bcr-mlir bug; the shader is {glsl}")
    partial.replace(spv)
    return spv.read_bytes()


def _balanced(text: str, start: int) -> str:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    raise ValueError("unbalanced attribute")


@functools.cache
def executable_target(vulkan_target: str) -> str:
    """The `#hal.executable.target<"vulkan-spirv", ...>` iree-compile uses for --iree-vulkan-target."""
    from bcr_mlir.backends.iree import tool
    if vulkan_target == "baseline_f16":  # no IREE flag: the module declares this device itself (iree.declare_device)
        from bcr_mlir.targets import BASELINE_F16_TARGET_INFO
        return f'#hal.executable.target<"vulkan-spirv", "vulkan-spirv-fb", {{iree_codegen.target_info = {BASELINE_F16_TARGET_INFO}}}>'
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.mlir"
        probe.write_text("func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
                         "  %0 = arith.addf %a, %a : tensor<4xf32>\n  return %0 : tensor<4xf32>\n}\n")
        result = subprocess.run([tool("iree-compile"), str(probe), "--iree-hal-target-device=vulkan",
                                 f"--iree-vulkan-target={vulkan_target}", "--compile-to=executable-targets"],
                                capture_output=True, text=True)
    start = result.stdout.find('#hal.executable.target<"vulkan-spirv"')
    if result.returncode != 0 or start < 0:
        raise BcrError(f"cannot get IREE's executable target for Vulkan target '{vulkan_target}': "
                       f"{(result.stderr.strip().splitlines() or ['no output'])[0][:200]}",
                       "check the iree-base-compiler installation (3.13.0)")
    return "#hal.executable.target" + _balanced(result.stdout, start + len("#hal.executable.target"))


@dataclass
class _Site:
    spirv: bytes
    grid: tuple[int, int, int]
    target: str
    inputs: int


def extern_text(indent: str, result: str, operands: str, types: str, result_type: str, site: _Site, index: int) -> str:
    """A hal.dispatch.extern launching `site`'s SPIR-V, in place of one printed call."""
    layout = ", ".join(["#hal.pipeline.binding<storage_buffer, ReadOnly>"] * site.inputs +
                       ["#hal.pipeline.binding<storage_buffer>"])
    names = [f"%bcr_count{index}_{axis}" for axis in "xyz"]
    counts = "\n".join(f"{indent}    {name} = arith.constant {size} : index" for name, size in zip(names, site.grid))
    data = site.spirv.hex().upper()
    return (f"{indent}{result} = hal.dispatch.extern \"main\"({operands}) : ({types}) -> {result_type}\n"
            f"{indent}  count(%device: !hal.device) -> (index, index, index) {{\n{counts}\n"
            f"{indent}    hal.return {', '.join(names)} : index, index, index\n{indent}  }}\n"
            f"{indent}  layout(#hal.pipeline.layout<bindings = [{layout}]>)\n"
            f"{indent}  objects({{{site.target} ordinal(0) = "
            f"[#hal.executable.object<{{data = dense<\"0x{data}\"> : vector<{len(site.spirv)}xi8>}}>]}})")


class ExternDispatches:
    """The to_iree_text side: bcr.dispatch of a GLSL kernel -> hal.dispatch.extern."""

    def __init__(self, module: ir.Module, functions: dict[str, ir.Operation]):
        self.module = module
        self.functions = functions
        self.sites: dict[str, _Site] = {}
        self.kernels: set[str] = set()

    def rewrite(self, op: ir.Operation) -> bool:
        """Replaces `op` by a stub call if its kernel is a GLSL kernel; False (untouched) otherwise."""
        kernel = ir.FlatSymbolRefAttr(op.attributes["kernel"]).value
        function = self.functions.get(kernel)
        if function is None or GLSL_ATTR not in function.attributes:
            return False
        bound = [int(i) for i in ir.DenseI64ArrayAttr(function.attributes["bcr.bindings"])]
        operands = [op.operands[i] for i in bound]
        target = executable_target(ir.StringAttr(function.attributes["bcr.vulkan_target"]).value)
        spirv = compile_glsl(ir.StringAttr(function.attributes[GLSL_ATTR]).value)
        stub = f"{STUB}{len(self.sites)}"
        self.sites[stub] = _Site(spirv, tuple(int_array(op, "workgroups")), target, len(operands))
        self.kernels.add(kernel)
        with ir.InsertionPoint(self.module.body), op.location:
            stub_type = ir.FunctionType.get([v.type for v in operands], [op.result.type])
            ir.func.FuncOp(stub, stub_type, visibility="private")
        with ir.InsertionPoint(op), op.location:
            result = ir.func.CallOp([op.result.type], ir.FlatSymbolRefAttr.get(stub), operands).result
        op.result.replace_all_uses_with(result)
        op.erase()
        return True

    def erase_kernels(self) -> None:
        for kernel in self.kernels:
            self.functions[kernel].erase()
        self.kernels.clear()

    def substitute(self, text: str) -> str:
        """The printed module with every stub call replaced by its hal.dispatch.extern."""
        if not self.sites:
            return text
        call = re.compile(rf"^(\s*)(%[\w.$#-]+) = call @({STUB}\d+)\((.*)\) : \((.*)\) -> (.+)$", flags=re.M)

        def replace(match: re.Match) -> str:
            indent, result, stub, operands, types, result_type = match.groups()
            return extern_text(indent, result, operands, types, result_type.strip(), self.sites[stub],
                               int(stub[len(STUB):]))

        text = call.sub(replace, text)
        return re.sub(rf"^\s*func\.func private @{STUB}\d+\([^\n]*\n", "", text, flags=re.M)
