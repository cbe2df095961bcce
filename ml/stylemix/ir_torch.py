"""Run an OpenVINO IR (v10/v11 .xml + .bin) graph as a differentiable torch module.

Only the operations the MobileStyleGAN IRs use are implemented; an unknown one raises at load time,
so a different IR fails loudly instead of computing something else. Shape arithmetic (ShapeOf,
Gather, Concat on integer tensors) runs on CPU int64 tensors; float work runs on the module's
device. Weights are read from the .bin by each Const's offset, size and element type.

One Parameter may be "fanned out": each consumer edge of that parameter can be fed its own tensor,
which is how the synthesis network gets one style vector per layer (W+) although the IR has a
single `style` input.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {
    "f32": np.float32,
    "f16": np.float16,
    "i64": np.int64,
    "i32": np.int32,
    "u8": np.uint8,
    "i8": np.int8,
    "boolean": np.bool_,
}


class IRError(ValueError):
    """The IR uses something this interpreter does not implement."""


@dataclass(frozen=True)
class Node:
    """One IR layer: its type, attributes, inputs as (layer id, port) and output port ids."""

    id: str
    type: str
    name: str
    attrs: dict[str, str]
    inputs: tuple[tuple[str, str], ...]
    output_ports: tuple[str, ...]
    output_dims: tuple[tuple[int, ...], ...]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()] if text else []


def parse_ir(xml_path: Path) -> tuple[list[Node], dict[str, Node]]:
    """Parse the IR's layers and edges into nodes in topological order."""
    root = ET.parse(xml_path).getroot()
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    for edge in root.iter("edge"):
        edges[(edge.get("to-layer"), edge.get("to-port"))] = (
            edge.get("from-layer"),
            edge.get("from-port"),
        )
    nodes: dict[str, Node] = {}
    for layer in root.iter("layer"):
        data = layer.find("data")
        attrs = dict(data.attrib) if data is not None else {}
        in_ports = layer.find("input")
        inputs = []
        if in_ports is not None:
            for port in in_ports:
                inputs.append(edges[(layer.get("id"), port.get("id"))])
        out_ports = layer.find("output")
        ports, dims = [], []
        if out_ports is not None:
            for port in out_ports:
                ports.append(port.get("id"))
                dims.append(tuple(int(d.text) for d in port.findall("dim")))
        nodes[layer.get("id")] = Node(
            layer.get("id"),
            layer.get("type"),
            layer.get("name"),
            attrs,
            tuple(inputs),
            tuple(ports),
            tuple(dims),
        )
    order: list[Node] = []
    state: dict[str, int] = {}

    def visit(node_id: str) -> None:
        stack = [(node_id, False)]
        while stack:
            current, done = stack.pop()
            if done:
                state[current] = 2
                order.append(nodes[current])
                continue
            if state.get(current):
                continue
            state[current] = 1
            stack.append((current, True))
            for source, _port in nodes[current].inputs:
                if not state.get(source):
                    stack.append((source, False))

    for node_id in nodes:
        visit(node_id)
    return order, nodes


def _shape_list(value: torch.Tensor) -> list[int]:
    return [int(v) for v in value.reshape(-1).tolist()]


def _axis(value: torch.Tensor, rank: int) -> list[int]:
    return [a % rank for a in _shape_list(value)]


def _prelu(x: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    if slope.dim() == 1 and x.dim() >= 2 and slope.numel() == x.shape[1] and slope.numel() > 1:
        slope = slope.reshape([1, -1] + [1] * (x.dim() - 2))
    if slope.numel() == 1 and not slope.requires_grad:
        return F.leaky_relu(x, float(slope.reshape(-1)[0]))
    if x.dim() >= 2 and slope.numel() == x.shape[1]:
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


def _reshape(x: torch.Tensor, shape: torch.Tensor, special_zero: bool) -> torch.Tensor:
    target = _shape_list(shape)
    if special_zero:
        target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return x.reshape(target)


def _gather(data: torch.Tensor, indices: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    ax = _axis(axis, data.dim())[0]
    idx = indices.to(torch.int64)
    idx = torch.where(idx < 0, idx + data.shape[ax], idx)
    flat = torch.index_select(data, ax, idx.reshape(-1).to(data.device))
    return flat.reshape(list(data.shape[:ax]) + list(idx.shape) + list(data.shape[ax + 1 :]))


def _broadcast(x: torch.Tensor, shape: torch.Tensor, mode: str) -> torch.Tensor:
    target = _shape_list(shape)
    if mode == "bidirectional":
        target = list(torch.broadcast_shapes(tuple(x.shape), tuple(target)))
    elif mode != "numpy":
        raise IRError(f"Broadcast mode {mode} not implemented")
    return torch.broadcast_to(x, target)


def _variadic_split(x: torch.Tensor, axis: torch.Tensor, lengths: torch.Tensor) -> list:
    ax = _axis(axis, x.dim())[0]
    sizes = _shape_list(lengths)
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[ax] - sum(s for s in sizes if s != -1)
    return list(torch.split(x, sizes, dim=ax))


def _pads(attrs: dict[str, str]) -> tuple[list[int], list[int]]:
    if attrs.get("auto_pad", "explicit") not in {"explicit", "notset"}:
        raise IRError(f"auto_pad {attrs['auto_pad']} not implemented")
    return _ints(attrs.get("pads_begin", "0,0")), _ints(attrs.get("pads_end", "0,0"))


def _conv(x: torch.Tensor, weight: torch.Tensor, attrs: dict[str, str], groups: int = 1):
    begin, end = _pads(attrs)
    if begin != end:
        x = F.pad(x, [begin[1], end[1], begin[0], end[0]])
        begin = [0, 0]
    return F.conv2d(
        x,
        weight,
        stride=_ints(attrs["strides"]),
        padding=begin,
        dilation=_ints(attrs["dilations"]),
        groups=groups,
    )


def _group_conv(x: torch.Tensor, weight: torch.Tensor, attrs: dict[str, str]) -> torch.Tensor:
    groups = weight.shape[0]
    return _conv(x, weight.reshape((-1, *weight.shape[2:])), attrs, groups)


def _group_deconv(x: torch.Tensor, weight: torch.Tensor, attrs: dict[str, str]) -> torch.Tensor:
    # OpenVINO: weight [G, C_in/G, C_out/G, kh, kw]; torch: [C_in, C_out/G, kh, kw], groups=G.
    begin, end = _pads(attrs)
    if begin != end:
        raise IRError("asymmetric deconvolution padding not implemented")
    groups = weight.shape[0]
    stride = _ints(attrs["strides"])
    if (
        list(weight.shape[3:]) == stride
        and begin == [0, 0]
        and _ints(attrs["dilations"]) == [1, 1]
        and _ints(attrs.get("output_padding", "0,0")) == [0, 0]
    ):
        return _patch_deconv(x, weight)
    return F.conv_transpose2d(
        x,
        weight.reshape((-1, *weight.shape[2:])),
        stride=_ints(attrs["strides"]),
        padding=begin,
        output_padding=_ints(attrs.get("output_padding", "0,0")),
        dilation=_ints(attrs["dilations"]),
        groups=groups,
    )


def _patch_deconv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A grouped transposed convolution whose kernel equals its stride (no padding): each input
    pixel writes its own kh x kw output patch, so it is a per-group product and a reshape.

    This is how the IR spells the Haar inverse wavelet transform; torch's CPU grouped
    conv_transpose2d takes ~50 ms for it even on an 8x8 map, this takes microseconds.
    """
    n, _, h, w = x.shape
    groups, c_in, c_out, kh, kw = weight.shape
    if c_in == 1 and c_out == 1:
        out = x.reshape(n, groups, h, 1, w, 1) * weight.reshape(1, groups, 1, kh, 1, kw)
    else:
        grouped = x.reshape(n, groups, c_in, h, w)
        out = torch.einsum("ngchw,gcoab->ngohawb", grouped, weight)
    return out.reshape(n, groups * c_out, h * kh, w * kw)


def _binary(fn: Callable) -> Callable:
    def run(node: Node, args: Sequence[torch.Tensor]) -> torch.Tensor:
        a, b = args
        if a.dtype != b.dtype:
            b = b.to(a.dtype)
        return fn(a, b.to(a.device) if b.device != a.device else b)

    return run


_OPS: dict[str, Callable[[Node, Sequence[torch.Tensor]], object]] = {
    "Add": _binary(torch.add),
    "Multiply": _binary(torch.mul),
    "Subtract": _binary(torch.sub),
    "Divide": _binary(torch.div),
    "Power": _binary(torch.pow),
    "MatMul": lambda n, a: torch.matmul(
        a[0].transpose(-1, -2) if n.attrs.get("transpose_a") == "true" else a[0],
        a[1].transpose(-1, -2) if n.attrs.get("transpose_b") == "true" else a[1],
    ),
    "PReLU": lambda n, a: _prelu(a[0], a[1]),
    "ShapeOf": lambda n, a: torch.tensor(list(a[0].shape), dtype=torch.int64),
    "Gather": lambda n, a: _gather(a[0], a[1], a[2]),
    "Unsqueeze": lambda n, a: a[0].reshape(_unsqueezed_shape(list(a[0].shape), _shape_list(a[1]))),
    "Squeeze": lambda n, a: a[0].reshape(
        [d for i, d in enumerate(a[0].shape) if i not in _axis(a[1], a[0].dim())]
    ),
    "Concat": lambda n, a: torch.cat(
        [t.to(a[0].device) for t in a], dim=int(n.attrs["axis"]) % max(a[0].dim(), 1)
    ),
    "Reshape": lambda n, a: _reshape(a[0], a[1], n.attrs.get("special_zero") == "true"),
    "Broadcast": lambda n, a: _broadcast(a[0], a[1], n.attrs.get("mode", "numpy")),
    "Tile": lambda n, a: a[0].repeat(_shape_list(a[1])),
    "ReduceMean": lambda n, a: a[0].mean(
        dim=_axis(a[1], a[0].dim()), keepdim=n.attrs.get("keep_dims") == "true"
    ),
    "Convolution": lambda n, a: _conv(a[0], a[1], n.attrs),
    "GroupConvolution": lambda n, a: _group_conv(a[0], a[1], n.attrs),
    "GroupConvolutionBackpropData": lambda n, a: _group_deconv(a[0], a[1], n.attrs),
    "VariadicSplit": lambda n, a: _variadic_split(a[0], a[1], a[2]),
}


def _unsqueezed_shape(shape: list[int], axes: list[int]) -> list[int]:
    rank = len(shape) + len(axes)
    for axis in sorted(a % rank for a in axes):
        shape.insert(axis, 1)
    return shape


class IRModule(torch.nn.Module):
    """A torch module that evaluates an OpenVINO IR graph; float Consts become buffers."""

    def __init__(self, xml_path: str | Path, bin_path: str | Path | None = None) -> None:
        super().__init__()
        xml_path = Path(xml_path)
        bin_path = Path(bin_path) if bin_path else xml_path.with_suffix(".bin")
        self.order, self.nodes = parse_ir(xml_path)
        blob = np.fromfile(bin_path, dtype=np.uint8)
        self._ints: dict[str, torch.Tensor] = {}
        self._const_names: dict[str, str] = {}
        for node in self.order:
            if node.type == "Const":
                dtype = _DTYPES[node.attrs["element_type"]]
                offset, size = int(node.attrs["offset"]), int(node.attrs["size"])
                shape = _ints(node.attrs.get("shape", ""))
                array = blob[offset : offset + size].view(dtype).reshape(shape).copy()
                tensor = torch.from_numpy(array)
                if tensor.is_floating_point():
                    name = f"c{node.id}"
                    self.register_buffer(name, tensor.float(), persistent=False)
                    self._const_names[node.id] = name
                else:
                    self._ints[node.id] = tensor.to(torch.int64)
            elif node.type not in _OPS and node.type not in {"Parameter", "Result"}:
                raise IRError(f"operation {node.type} ({node.name}) not implemented")
        self.parameters_ = [n for n in self.order if n.type == "Parameter"]
        self.results = [n for n in self.order if n.type == "Result"]

    def consumers(self, node_id: str) -> list[Node]:
        """Nodes that take an output of `node_id` as an input, in topological order."""
        return [n for n in self.order if any(src == node_id for src, _ in n.inputs)]

    def const(self, node_id: str) -> torch.Tensor:
        """The tensor of a Const node (float ones on the module's device)."""
        if node_id in self._const_names:
            return getattr(self, self._const_names[node_id])
        return self._ints[node_id]

    def run(
        self,
        feeds: dict[str, torch.Tensor],
        per_consumer: dict[str, dict[str, torch.Tensor]] | None = None,
        stop_at: set[str] | None = None,
        taps: set[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Evaluate the graph.

        `feeds` maps Parameter names to tensors; `per_consumer[param_name][consumer_id]` overrides
        what that consumer reads from the parameter. With `stop_at` (node ids), evaluation stops
        once all those nodes are computed and their values are returned; otherwise the Results',
        plus the first output of each node in `taps` (by node id).
        """
        values: dict[tuple[str, str], torch.Tensor] = {}
        overrides: dict[tuple[str, str], torch.Tensor] = {}
        per_consumer = per_consumer or {}
        remaining = set(stop_at or ())
        needed = self._needed(stop_at) if stop_at else None
        for node in self.order:
            if needed is not None and node.id not in needed:
                continue
            if node.type == "Const":
                values[(node.id, node.output_ports[0])] = self.const(node.id)
                continue
            if node.type == "Parameter":
                values[(node.id, node.output_ports[0])] = feeds[node.name]
                for consumer, tensor in per_consumer.get(node.name, {}).items():
                    overrides[(consumer, node.id)] = tensor
                continue
            args = [overrides.get((node.id, src), values[(src, port)]) for src, port in node.inputs]
            if node.type == "Result":
                values[(node.id, "out")] = args[0]
                continue
            out = _OPS[node.type](node, args)
            if isinstance(out, list):
                for port, tensor in zip(node.output_ports, out, strict=True):
                    values[(node.id, port)] = tensor
            else:
                values[(node.id, node.output_ports[0])] = out
            if stop_at and node.id in remaining:
                remaining.discard(node.id)
                if not remaining:
                    break
        if stop_at:
            return {nid: values[(nid, self.nodes[nid].output_ports[0])] for nid in stop_at}
        outputs = {n.name: values[(n.id, "out")] for n in self.results}
        for nid in taps or ():
            outputs[nid] = values[(nid, self.nodes[nid].output_ports[0])]
        return outputs

    def needed(self, targets: set[str]) -> set[str]:
        """The ids of `targets` and every node they depend on."""
        return self._needed(targets)

    def _needed(self, targets: set[str]) -> set[str]:
        needed: set[str] = set()
        stack = list(targets)
        while stack:
            current = stack.pop()
            if current in needed:
                continue
            needed.add(current)
            stack.extend(src for src, _ in self.nodes[current].inputs)
        return needed
