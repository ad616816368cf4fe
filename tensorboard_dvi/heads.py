"""Save and load a classifier head without pickle.

A head is stored as a small JSON architecture description (``head.json``) plus
its tensors in ``head.npz`` (read with ``allow_pickle=False``). Supported
layers cover the heads of common classifiers: ``nn.Linear`` and an
``nn.Sequential`` of Linear, common activations, Dropout, Flatten, Identity,
LayerNorm and BatchNorm1d. The plugin rebuilds the module from the description,
so it never runs user code and never unpickles anything.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Dict, List, Tuple

import numpy as np

from . import metadata as md

_ACTIVATIONS = ("ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "ELU", "Softplus")
_NO_OP = ("Dropout", "Identity")  # identity in eval mode


class UnsupportedHeadError(TypeError):
    """The head contains a layer this format cannot describe."""


def _describe_layer(module, prefix: str, tensors: Dict[str, np.ndarray]) -> List[dict]:
    import torch.nn as nn

    name = type(module).__name__

    def put(key, t):
        tensors[f"{prefix}{key}"] = t.detach().to("cpu", dtype=__import__("torch").float32).numpy()

    if isinstance(module, nn.Sequential):
        layers = []
        for i, child in enumerate(module):
            layers += _describe_layer(child, f"{prefix}{i}.", tensors)
        return layers
    if isinstance(module, nn.Linear):
        put("weight", module.weight)
        if module.bias is not None:
            put("bias", module.bias)
        return [{"type": "Linear", "in": module.in_features, "out": module.out_features,
                 "bias": module.bias is not None, "prefix": prefix}]
    if isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            raise UnsupportedHeadError("LayerNorm over more than one dimension is not supported in a head")
        if module.elementwise_affine:
            put("weight", module.weight)
            if module.bias is not None:
                put("bias", module.bias)
        return [{"type": "LayerNorm", "dim": module.normalized_shape[0], "eps": module.eps,
                 "affine": module.elementwise_affine, "bias": module.bias is not None, "prefix": prefix}]
    if isinstance(module, nn.BatchNorm1d):
        if module.running_mean is None:
            raise UnsupportedHeadError("BatchNorm1d without running statistics cannot be stored")
        put("running_mean", module.running_mean)
        put("running_var", module.running_var)
        if module.affine:
            put("weight", module.weight)
            put("bias", module.bias)
        return [{"type": "BatchNorm1d", "dim": module.num_features, "eps": module.eps,
                 "affine": module.affine, "prefix": prefix}]
    if name in _ACTIVATIONS and type(module).__module__.startswith("torch.nn"):
        layer = {"type": name}
        if name == "LeakyReLU":
            layer["negative_slope"] = module.negative_slope
        if name == "ELU":
            layer["alpha"] = module.alpha
        if name == "GELU":
            layer["approximate"] = module.approximate
        if name == "Softplus":
            layer["beta"], layer["threshold"] = module.beta, module.threshold
        return [layer]
    if name in _NO_OP or isinstance(module, nn.Flatten):
        return []
    raise UnsupportedHeadError(
        f"cannot store a head containing {name}: supported are Linear, Sequential, LayerNorm, "
        f"BatchNorm1d, Dropout, Flatten, Identity and {', '.join(_ACTIVATIONS)}. Pick a later "
        "representation layer (feature=... / layer=...) so that the head is one of these, or pass "
        "head= an equivalent nn.Sequential")


def describe_head(head) -> Tuple[dict, Dict[str, np.ndarray]]:
    """(spec, tensors) for a torch head; raises UnsupportedHeadError naming the layer."""
    tensors: Dict[str, np.ndarray] = {}
    layers = _describe_layer(head, "", tensors)
    if not any(layer["type"] == "Linear" for layer in layers):
        raise UnsupportedHeadError("the head has no nn.Linear layer; nothing maps representations to logits")
    return {"format": "dvi-head-1", "layers": layers}, tensors


def head_files(head) -> Dict[str, bytes]:
    """The two files that store ``head`` in an epoch folder, as bytes."""
    spec, tensors = describe_head(head)
    buf = io.BytesIO()
    np.savez(buf, **tensors)
    return {md.HEAD_SPEC_FILE: json.dumps(spec, indent=1).encode(), md.HEAD_WEIGHTS_FILE: buf.getvalue()}


def read_head_spec(folder: str) -> dict:
    from .safe_read import FormatError, read_json
    try:
        spec = read_json(os.path.join(folder, md.HEAD_SPEC_FILE), md.HEAD_SPEC_FILE, max_bytes=1 << 20)
    except FormatError as e:
        raise ValueError(str(e)) from None
    if not isinstance(spec, dict) or spec.get("format") != "dvi-head-1" or not isinstance(spec.get("layers"), list):
        raise ValueError(f"{md.HEAD_SPEC_FILE} is not a DVI head description")
    return spec


def build_head(spec: dict, tensors: Dict[str, np.ndarray]):
    """Rebuild an eval-mode float32 ``nn.Sequential`` from a description and its tensors."""
    import torch
    import torch.nn as nn

    def t(prefix, key, shape):
        arr = tensors[prefix + key]
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(f"head tensor {prefix + key} has shape {arr.shape}, expected {tuple(shape)}")
        return torch.from_numpy(np.array(arr, dtype=np.float32))

    modules = []
    for layer in spec["layers"]:
        kind, p = layer.get("type"), layer.get("prefix", "")
        if kind == "Linear":
            m = nn.Linear(int(layer["in"]), int(layer["out"]), bias=bool(layer["bias"]))
            m.weight.data = t(p, "weight", (layer["out"], layer["in"]))
            if layer["bias"]:
                m.bias.data = t(p, "bias", (layer["out"],))
        elif kind == "LayerNorm":
            m = nn.LayerNorm(int(layer["dim"]), eps=float(layer["eps"]), elementwise_affine=bool(layer["affine"]),
                             bias=bool(layer.get("bias", True)))
            if layer["affine"]:
                m.weight.data = t(p, "weight", (layer["dim"],))
                if layer.get("bias", True):
                    m.bias.data = t(p, "bias", (layer["dim"],))
        elif kind == "BatchNorm1d":
            m = nn.BatchNorm1d(int(layer["dim"]), eps=float(layer["eps"]), affine=bool(layer["affine"]))
            m.running_mean.data = t(p, "running_mean", (layer["dim"],))
            m.running_var.data = t(p, "running_var", (layer["dim"],))
            if layer["affine"]:
                m.weight.data = t(p, "weight", (layer["dim"],))
                m.bias.data = t(p, "bias", (layer["dim"],))
        elif kind == "LeakyReLU":
            m = nn.LeakyReLU(float(layer.get("negative_slope", 0.01)))
        elif kind == "ELU":
            m = nn.ELU(float(layer.get("alpha", 1.0)))
        elif kind == "GELU":
            m = nn.GELU(approximate=str(layer.get("approximate", "none")))
        elif kind == "Softplus":
            m = nn.Softplus(float(layer.get("beta", 1.0)), float(layer.get("threshold", 20.0)))
        elif kind in _ACTIVATIONS:
            m = getattr(nn, kind)()
        else:
            raise ValueError(f"unknown head layer type {kind!r}")
        modules.append(m)
    return nn.Sequential(*modules).eval()


def _expected_tensors(spec: dict) -> Dict[str, tuple]:
    """{tensor name: shape} that a head description needs (ValueError for a bad description)."""
    out: Dict[str, tuple] = {}
    try:
        for layer in spec["layers"]:
            kind, p = layer.get("type"), layer.get("prefix", "")
            if kind == "Linear":
                out[p + "weight"] = (int(layer["out"]), int(layer["in"]))
                if layer["bias"]:
                    out[p + "bias"] = (int(layer["out"]),)
            elif kind in ("LayerNorm", "BatchNorm1d"):
                dim = (int(layer["dim"]),)
                if kind == "BatchNorm1d":
                    out[p + "running_mean"] = out[p + "running_var"] = dim
                if layer["affine"]:
                    out[p + "weight"] = dim
                    if kind == "BatchNorm1d" or layer.get("bias", True):
                        out[p + "bias"] = dim
            elif kind not in _ACTIVATIONS:
                raise ValueError(f"unknown head layer type {kind!r}")
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{md.HEAD_SPEC_FILE} has a malformed layer ({type(e).__name__}: {e})") from None
    return out


#: Most parameters a head may declare (a 4096-wide two-layer MLP over 4096 features is ~34M).
MAX_HEAD_PARAMS = 64 << 20


def _check_head_sizes(spec: dict, expected: Dict[str, tuple], in_dim, num_classes) -> None:
    """Declared sizes against the representation width, the class count and
    :data:`MAX_HEAD_PARAMS`, before anything is allocated (a zip bomb declares huge layers)."""
    import math
    total = sum(math.prod(s) for s in expected.values())
    if any(d < 0 for s in expected.values() for d in s) or total > MAX_HEAD_PARAMS:
        raise ValueError(f"{md.HEAD_SPEC_FILE} declares {total} parameters, over the limit {MAX_HEAD_PARAMS}")
    linear = [layer for layer in spec["layers"] if isinstance(layer, dict) and layer.get("type") == "Linear"]
    if in_dim is not None and linear and int(linear[0]["in"]) != int(in_dim):
        raise ValueError(f"{md.HEAD_SPEC_FILE}: the first Linear layer takes {linear[0]['in']} inputs but the "
                         f"representations are {in_dim}-dimensional")
    if num_classes is not None and linear and int(linear[-1]["out"]) != int(num_classes):
        raise ValueError(f"{md.HEAD_SPEC_FILE}: the last Linear layer has {linear[-1]['out']} outputs but the "
                         f"run has {num_classes} classes")


def check_head_files(folder: str, *, in_dim=None, num_classes=None) -> dict:
    """Check head.json and the headers of head.npz's tensors (names, float dtype, shapes, sizes)
    without loading them or torch; returns the spec. ValueError names the problem. With
    ``in_dim``/``num_classes`` the declared layer widths must match them."""
    spec = read_head_spec(folder)
    expected = _expected_tensors(spec)
    _check_head_sizes(spec, expected, in_dim, num_classes)
    path = os.path.join(folder, md.HEAD_WEIGHTS_FILE)
    found = {}
    try:
        from .safe_read import check_regular
        check_regular(path, md.HEAD_WEIGHTS_FILE, ValueError)
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(f)
                    header_len = f.tell()
                found[info.filename[:-4]] = (shape, dtype, info.file_size - header_len)
    except FileNotFoundError:
        raise ValueError(f"{md.HEAD_WEIGHTS_FILE} is missing") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise ValueError(f"{md.HEAD_WEIGHTS_FILE} is unreadable ({why})") from None
    for name, shape in expected.items():
        if name not in found:
            raise ValueError(f"{md.HEAD_WEIGHTS_FILE} lacks the tensor {name!r}")
        got, dtype, nbytes = found[name]
        if dtype.hasobject or dtype.kind != "f":
            raise ValueError(f"{md.HEAD_WEIGHTS_FILE}: tensor {name!r} has dtype {dtype}")
        if tuple(got) != tuple(shape):
            raise ValueError(f"{md.HEAD_WEIGHTS_FILE}: tensor {name!r} has shape {tuple(got)}, expected {tuple(shape)}")
        if nbytes != int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"{md.HEAD_WEIGHTS_FILE}: tensor {name!r} is truncated")
    return spec


def load_head(folder: str, *, in_dim=None, num_classes=None):
    """The head stored in an epoch folder, as an eval-mode torch module (sizes checked first)."""
    spec = check_head_files(folder, in_dim=in_dim, num_classes=num_classes)
    try:
        with np.load(os.path.join(folder, md.HEAD_WEIGHTS_FILE), allow_pickle=False) as z:
            tensors = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{md.HEAD_WEIGHTS_FILE} is unreadable ({e})") from None
    return build_head(spec, tensors)
