"""An int8 copy of an ONNX graph whose activations are quantized per token (per row), so that a
query's vector does not depend on what it is batched with.

Every MatMul with a 2-D weight initializer `W` ([K, N], the model's linear layers) becomes:

    s    = max(|x|, over the last axis) / 127           # one scale per token row, [.., 1]
    x_u8 = uint8(x * (127 / max|x|) + 128.5)            # symmetric int8, stored as uint8 around 128
    y    = float(MatMulInteger(x_u8, W_i8, zero=128)) * s * w_scale

with `W_i8 = round(W / w_scale)`, `w_scale = max|W[:, n]| / 127` per output column. ONNX Runtime's
dynamic quantization instead scales the whole activation tensor of a forward pass by one factor
(`DynamicQuantizeLinear`), so in a batch each query's scale comes from its batch-mates' largest
value and its vector moved (cosine ~0.99 to itself alone, measured). Here a row's scale is its
own, integer products are exact, and the rest of the graph works row by row, so a query gets the
same vector alone and in any batch (max difference 4e-8, measured). Per-token scales are also
finer: cosine to the float model >= 0.996 on 328 real and synthetic questions (dynamic: 0.991).
Inputs shared by several MatMuls (a layer's query/key/value projections) are quantized once. The
attention's activation-by-activation products stay float. Calibrated static quantization
(activation scales fixed from a calibration set) was measured too: cosine 0.90-0.94, and slower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def quantize_per_token(src: Path, dst: Path) -> int:
    """Write the per-token int8 copy of the ONNX model `src` to `dst`; returns the MatMuls quantized."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    consts = {"rq_127": np.array(127.0, np.float32), "rq_128_5": np.array(128.5, np.float32),
              "rq_eps": np.array(1e-8, np.float32), "rq_zero": np.array(128, np.uint8)}
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    nodes, replaced, quantized = [], set(), {}
    for node in graph.node:
        w = weights.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if w is None or len(w.dims) != 2:
            nodes.append(node)
            continue
        x = node.input[0]
        W = numpy_helper.to_array(w).astype(np.float32)
        w_scale = (np.maximum(np.abs(W).max(0), 1e-12) / 127.0).astype(np.float32)
        W_i8 = np.clip(np.round(W / w_scale), -127, 127).astype(np.int8)
        p = f"rq{len(replaced)}"
        graph.initializer.extend([numpy_helper.from_array(W_i8, p + "_w"), numpy_helper.from_array(w_scale, p + "_ws")])
        replaced.add(w.name)
        if x not in quantized:
            q = f"rqx{len(quantized)}"
            quantized[x] = (q + "_u8", q + "_s")
            nodes += [
                helper.make_node("Abs", [x], [q + "_abs"]),
                helper.make_node("ReduceMax", [q + "_abs"], [q + "_max0"], axes=[-1], keepdims=1),
                helper.make_node("Max", [q + "_max0", "rq_eps"], [q + "_max"]),
                helper.make_node("Div", [q + "_max", "rq_127"], [q + "_s"]),
                helper.make_node("Div", ["rq_127", q + "_max"], [q + "_inv"]),
                helper.make_node("Mul", [x, q + "_inv"], [q + "_scaled"]),
                helper.make_node("Add", [q + "_scaled", "rq_128_5"], [q + "_shifted"]),  # cast truncates: rounds
                helper.make_node("Cast", [q + "_shifted"], [q + "_u8"], to=TensorProto.UINT8),
            ]
        x_u8, s = quantized[x]
        nodes += [
            helper.make_node("MatMulInteger", [x_u8, p + "_w", "rq_zero"], [p + "_i32"]),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "_f", s], [p + "_rows"]),
            helper.make_node("Mul", [p + "_rows", p + "_ws"], list(node.output)),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in nodes for name in n.input}  # a replaced weight another node reads stays
    kept = [i for i in graph.initializer if i.name not in replaced or i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    tmp = dst.with_suffix(".tmp.onnx")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return len(replaced)
