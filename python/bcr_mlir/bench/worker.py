"""One benchmark worker: loads one model into one engine at one thread count, then times calls on request.

Run by path with the python of the engine's own virtual environment (the peers' venvs do not have
bcr_mlir installed), so this file imports only the standard library and numpy at the top:

    <venv>/bin/python worker.py '<spec json>'

spec: {"engine", "threads", "dir" (the converted model files), "input" (.npy), "output" (.npy to write),
       "warmup_seconds", "zoo": {"name", "small"} (torch engines), "tvm_target" (optional; default: llvm for this CPU)}

Protocol, one JSON object per line on the original stdout (library chatter is sent to stderr):
  -> {"ready": true, "version", "load_seconds", "first_call_seconds", "baseline_rss_kb", "note"}
     or {"error": "one line"}
  <- {"cmd": "time", "n": k, "warmup": w}   -> {"times": [seconds per call, ...]}
  <- {"cmd": "quit"}                        -> {"peak_rss_kb", "baseline_rss_kb"}

Also `worker.py convert-litert '<spec json>'` converts a model with litert-torch (LiteRT's venv).
"""
from __future__ import annotations

import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
# Run by path, this folder would come first on sys.path and could shadow real packages.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


# ---- Engines: each returns (run: () -> numpy output, version, note) -------------------------------

def _torch_model(spec):
    import torch
    from bcr_mlir import zoo
    torch.set_num_threads(spec["threads"])
    model, _ = zoo.get(spec["zoo"]["name"], small=spec["zoo"]["small"])
    model.load_state_dict(torch.load(os.path.join(spec["dir"], "state.pt"), weights_only=True))
    return model.eval()


def load_torch(spec, x):
    import torch
    model = _torch_model(spec)
    inp = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return model(inp).numpy()
    return run, torch.__version__, "eager, dense weights (the pruned model's zeros are multiplied)"


def load_torch_csr(spec, x):
    import torch
    from bcr_mlir.bench.csr import count_csr, to_csr
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "Sparse CSR tensor support is in beta state"
        model = to_csr(_torch_model(spec))
    inp = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            y = model(inp)
        return (y[0] if isinstance(y, tuple) else y).numpy()
    return run, torch.__version__, f"{count_csr(model)} layers as torch.sparse CSR matmuls"


def load_onnxruntime(spec, x):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = spec["threads"]
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(os.path.join(spec["dir"], "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}

    def run():
        return session.run(None, feed)[0]
    return run, ort.__version__, "CPUExecutionProvider, ORT_ENABLE_ALL"


def load_mnn(spec, x):
    import MNN
    import MNN.expr as F
    config = {"backend": "CPU", "precision": "high", "numThread": spec["threads"]}
    runtime = MNN.nn.create_runtime_manager((config,))
    net = MNN.nn.load_module_from_file(os.path.join(spec["dir"], "model.mnn"), ["input"], ["output"],
                                       runtime_manager=runtime)
    inp = F.const(x, list(x.shape), F.NCHW)

    def run():
        return np.array(net.forward([inp])[0].read())
    version = MNN.version() if hasattr(MNN, "version") else _version("MNN")
    return run, version, "Module API, precision high (fp32)"


def load_ncnn(spec, x):
    import ncnn
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = spec["threads"]
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.use_packing_layout = True
    if net.load_param(os.path.join(spec["dir"], "model.ncnn.param")) != 0 or \
            net.load_model(os.path.join(spec["dir"], "model.ncnn.bin")) != 0:
        raise RuntimeError("ncnn could not load the converted model")
    mat = ncnn.Mat(np.ascontiguousarray(x[0])).clone()   # ncnn Mats have no batch dimension

    def run():
        extractor = net.create_extractor()
        extractor.input("in0", mat)
        _, out = extractor.extract("out0")
        return np.array(out)
    return run, ncnn.__version__, "fp32 (fp16/bf16 storage and arithmetic off), pnnx conversion"


def load_tvm(spec, x):
    import tvm
    from tvm import relax
    from tvm.target import codegen
    cpu = codegen.llvm_get_system_cpu()
    target = tvm.target.Target(spec.get("tvm_target") or {"kind": "llvm", "mcpu": cpu, "num-cores": spec["threads"]})
    library = os.path.join(spec["dir"], f"tvm-{cpu}-{spec['threads']}t.so")
    note = f"relax, untuned (no MetaSchedule tuning), llvm -mcpu={cpu}"
    if os.path.exists(library):
        executable = tvm.runtime.load_module(library)
        note += "; compiled library cached"
    else:
        import onnx
        from tvm.relax.frontend.onnx import from_onnx
        module = from_onnx(onnx.load(os.path.join(spec["dir"], "model.onnx")), shape_dict={"input": list(x.shape)},
                           keep_params_in_input=False)
        module = relax.transform.DecomposeOpsForInference()(module)
        module = relax.transform.LegalizeOps()(module)
        started = time.perf_counter()
        executable = tvm.compile(module, target=target)
        note += f"; tvm.compile {time.perf_counter() - started:.0f} s"
        try:
            executable.export_library(library + ".partial.so")
            os.replace(library + ".partial.so", library)
        except Exception:
            pass
    device = tvm.cpu()
    vm = relax.VirtualMachine(executable, device)
    tensor = tvm.runtime.tensor if hasattr(tvm.runtime, "tensor") else tvm.nd.array
    inp = tensor(x, device)
    function = vm["main"]

    def run():
        out = function(inp)
        if not hasattr(out, "numpy"):
            out = out[0]
        return out.numpy()
    return run, tvm.__version__, note


def load_litert(spec, x):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=os.path.join(spec["dir"], "model.tflite"), num_threads=spec["threads"])
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    if list(inp["shape"]) != list(x.shape):
        raise RuntimeError(f"the .tflite model takes {list(inp['shape'])}, not {list(x.shape)}")

    def run():
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])
    return run, _version("ai-edge-litert"), "XNNPACK delegate (the interpreter's default for fp32)"


LOADERS = {"torch": load_torch, "torch-csr": load_torch_csr, "onnxruntime": load_onnxruntime, "mnn": load_mnn,
           "ncnn": load_ncnn, "tvm": load_tvm, "litert": load_litert}


def convert_litert(spec) -> int:
    """litert-torch conversion of the pruned zoo model (runs in .bench/litert)."""
    import torch
    import litert_torch
    from bcr_mlir import zoo
    model, _ = zoo.get(spec["zoo"]["name"], small=spec["zoo"]["small"])
    model.load_state_dict(torch.load(os.path.join(spec["dir"], "state.pt"), weights_only=True))
    x = torch.from_numpy(np.load(spec["input"]))
    exported = litert_torch.convert(model.eval(), (x,))
    exported.export(os.path.join(spec["dir"], "model.tflite.partial"))
    os.replace(os.path.join(spec["dir"], "model.tflite.partial"), os.path.join(spec["dir"], "model.tflite"))
    return 0


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def serve(spec) -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)   # whatever the libraries print goes to stderr, not into the protocol

    def send(obj):
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    x = np.ascontiguousarray(np.load(spec["input"]))
    baseline = _status_kb("VmRSS")
    try:
        started = time.perf_counter()
        run, version, note = LOADERS[spec["engine"]](spec, x)
        loaded = time.perf_counter()
        output = run()
        first = time.perf_counter() - loaded
        np.save(spec["output"], np.asarray(output, dtype=np.float32))
        deadline = time.perf_counter() + spec.get("warmup_seconds", 0.2)
        for _ in range(3):              # warm-up: at least 3 calls, or warmup_seconds, whichever is longer
            run()
        while time.perf_counter() < deadline:
            run()
    except Exception as exc:
        send({"error": one_line(exc)})
        return 1
    send({"ready": True, "version": str(version), "load_seconds": loaded - started, "first_call_seconds": first,
          "baseline_rss_kb": baseline, "note": note})
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "time":
            for _ in range(request.get("warmup", 0)):
                run()
            times = []
            for _ in range(request["n"]):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            send({"times": times})
        elif request["cmd"] == "quit":
            send({"peak_rss_kb": _status_kb("VmHWM"), "baseline_rss_kb": baseline})
            return 0
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "convert-litert":
        return convert_litert(json.loads(argv[1]))
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    for name in ("OMP_NUM_THREADS", "TVM_NUM_THREADS"):
        os.environ.setdefault(name, str(spec["threads"]))
    return serve(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
