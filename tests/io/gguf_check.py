"""GGUF checks against gguf-py (the PyPI `gguf` package) for the C++ tests.

  read FILE                      read FILE with gguf.GGUFReader; print a JSON summary
  compare OURS THEIRS [--ignore KEY ...] [--close TENSOR ...]
                                 every key (type and value) and tensor (type, shape, bytes) of
                                 OURS equals THEIRS; --close tensors only within 1e-6 relative
  dequant TYPE IN OUT            gguf.quants.dequantize of the raw blocks in IN -> float32 OUT
  quantize TYPE IN OUT           gguf.quants.quantize of float32 IN -> raw blocks OUT
Exit 0 when the check passes, 1 with the differences on stderr otherwise.
"""
import json
import sys

import numpy as np
import gguf


def field_value(field):
    types = [gguf.GGUFValueType(t).name for t in field.types]
    value = field.contents()
    if isinstance(value, float):
        value = float(np.float32(value)) if types[0] == "FLOAT32" else value
    return types, value


def read(path):
    reader = gguf.GGUFReader(path)
    fields = {}
    for name, field in reader.fields.items():
        types, value = field_value(field)
        if isinstance(value, list) and len(value) > 8:
            value = {"len": len(value), "head": value[:3]}
        fields[name] = {"types": types, "value": value}
    tensors = [{"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in t.shape],
                "offset": int(t.data_offset)} for t in reader.tensors]
    print(json.dumps({"alignment": int(reader.alignment), "fields": fields, "tensors": tensors},
                     default=str))
    return 0


def compare(ours, theirs, ignore, close):
    a, b = gguf.GGUFReader(ours), gguf.GGUFReader(theirs)
    problems = []
    fa = {k: v for k, v in a.fields.items() if k not in ignore and not k.startswith("GGUF.")}
    fb = {k: v for k, v in b.fields.items() if k not in ignore and not k.startswith("GGUF.")}
    for key in sorted(set(fa) | set(fb)):
        if key not in fa:
            problems.append(f"key {key}: missing in ours")
            continue
        if key not in fb:
            problems.append(f"key {key}: not in the converter's file")
            continue
        ta, va = field_value(fa[key])
        tb, vb = field_value(fb[key])
        if ta != tb:
            problems.append(f"key {key}: type {ta} != {tb}")
        elif va != vb:
            if isinstance(va, list):
                diff = next((i for i, (x, y) in enumerate(zip(va, vb)) if x != y), min(len(va), len(vb)))
                problems.append(f"key {key}: lists differ at {diff} (lengths {len(va)}, {len(vb)})")
            else:
                problems.append(f"key {key}: {va!r} != {vb!r}")
    ta = {t.name: t for t in a.tensors}
    tb = {t.name: t for t in b.tensors}
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            problems.append(f"tensor {name}: only in {'theirs' if name not in ta else 'ours'}")
            continue
        x, y = ta[name], tb[name]
        if x.tensor_type != y.tensor_type:
            problems.append(f"tensor {name}: type {x.tensor_type.name} != {y.tensor_type.name}")
            continue
        if list(x.shape) != list(y.shape):
            problems.append(f"tensor {name}: shape {list(x.shape)} != {list(y.shape)}")
            continue
        if name in close:
            if not np.allclose(np.asarray(x.data, dtype=np.float64), np.asarray(y.data, dtype=np.float64), rtol=1e-6, atol=0):
                problems.append(f"tensor {name}: values differ beyond 1e-6")
        elif np.asarray(x.data).tobytes() != np.asarray(y.data).tobytes():
            problems.append(f"tensor {name}: bytes differ")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(fa)} keys, {len(ta)} tensors compared; {len(problems)} differences")
    return 1 if problems else 0


def qtype(name):
    return gguf.GGMLQuantizationType[name]


def dequant(type_name, src, dst):
    t = qtype(type_name)
    block, size = gguf.GGML_QUANT_SIZES[t]
    raw = np.fromfile(src, dtype=np.uint8)
    data = raw.reshape(-1, size) if block > 1 else raw
    if t == gguf.GGMLQuantizationType.F16:
        data = raw.view(np.float16)
    elif t == gguf.GGMLQuantizationType.F32:
        data = raw.view(np.float32)
    out = gguf.quants.dequantize(data, t)
    np.asarray(out, dtype=np.float32).ravel().tofile(dst)
    return 0


def quantize(type_name, src, dst):
    t = qtype(type_name)
    x = np.fromfile(src, dtype=np.float32).reshape(-1, 32 if t != gguf.GGMLQuantizationType.BF16 else 1)
    out = gguf.quants.quantize(x, t)
    np.asarray(out).tofile(dst)
    return 0


def main(argv):
    if argv[0] == "read":
        return read(argv[1])
    if argv[0] == "compare":
        ignore, close, rest = [], [], argv[3:]
        while rest:
            flag, value, rest = rest[0], rest[1], rest[2:]
            (ignore if flag == "--ignore" else close).append(value)
        return compare(argv[1], argv[2], set(ignore), set(close))
    if argv[0] == "dequant":
        return dequant(argv[1], argv[2], argv[3])
    if argv[0] == "quantize":
        return quantize(argv[1], argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
