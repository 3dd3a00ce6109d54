"""A numpy reader for safetensors files (the checkpoint format of Induction Lab runs).

Layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64 header length N, N bytes of
UTF-8 JSON ``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}``, then the raw
little-endian tensor bytes. Only the header is read when a file is opened; each tensor is read on first
access, so listing the checkpoints of a long run costs almost nothing.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Iterator, List, Mapping, Tuple

import numpy as np

__all__ = ["FormatError", "SafetensorsFile", "read_safetensors"]

_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "BF16": "<u2",
}
# Python's safetensors refuses headers above 100 MB; a garbled length field usually lands far above.
_MAX_HEADER = 100_000_000


class FormatError(ValueError):
    """A file that is not what it claims to be; the message names the file and the problem."""


class SafetensorsFile(Mapping[str, np.ndarray]):
    """A lazily read safetensors file: a read-only mapping name -> numpy array (cached after the first read)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._entries, self.metadata, self._data_start = _read_header(self.path)
        self._cache: Dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self._entries:
                known = ", ".join(sorted(self._entries)) or "none"
                raise KeyError(f"{self.path}: no tensor {name!r} (tensors: {known})")
            self._cache[name] = self._read(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def shape(self, name: str) -> Tuple[int, ...]:
        return tuple(self._entries[name]["shape"])

    def dtype(self, name: str) -> str:
        return self._entries[name]["dtype"]

    def _read(self, name: str) -> np.ndarray:
        e = self._entries[name]
        begin, end = e["data_offsets"]
        buf = bytearray(end - begin)
        with open(self.path, "rb") as f:
            f.seek(self._data_start + begin)
            if f.readinto(buf) != len(buf):
                raise FormatError(f"invalid safetensors file {self.path}: tensor {name!r} is cut short")
        arr = np.frombuffer(buf, dtype=_DTYPES[e["dtype"]])
        if e["dtype"] == "BF16":
            # bfloat16 is the top half of a float32.
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.reshape(e["shape"])

    def __repr__(self) -> str:
        return f"SafetensorsFile({self.path!r}, {len(self)} tensors)"


def read_safetensors(path: str | os.PathLike) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Reads every tensor: returns (tensors, metadata)."""
    f = SafetensorsFile(path)
    return {k: f[k] for k in f}, dict(f.metadata)


def _read_header(path: str) -> Tuple[Dict[str, dict], Dict[str, str], int]:
    def bad(problem: str) -> FormatError:
        return FormatError(f"invalid safetensors file {path}: {problem}")

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise bad(f"{size} bytes, too short for the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > _MAX_HEADER or 8 + n > size:
                raise bad(f"header length {n} does not fit a {size}-byte file")
            raw = f.read(n)
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_len = size - 8 - n
    entries: Dict[str, dict] = {}
    spans: List[Tuple[int, int, str]] = []
    for name, e in header.items():
        if not isinstance(e, dict) or e.get("dtype") not in _DTYPES:
            raise bad(f"tensor {name!r} has no known dtype ({e.get('dtype') if isinstance(e, dict) else e!r})")
        shape, offs = e.get("shape"), e.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise bad(f"tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            raise bad(f"tensor {name!r} has invalid data_offsets {offs!r}")
        begin, end = offs
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[e["dtype"]]).itemsize
        if not 0 <= begin <= end <= data_len or end - begin != want:
            raise bad(f"tensor {name!r} [{','.join(map(str, shape))}] {e['dtype']} has data_offsets {offs} "
                      f"(needs {want} bytes within {data_len})")
        entries[name] = e
        spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise bad(f"tensors {n0!r} and {n1!r} overlap")
    return entries, {str(k): str(v) for k, v in metadata.items()}, 8 + n
