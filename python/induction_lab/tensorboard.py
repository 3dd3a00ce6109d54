"""A reader for TensorBoard event files that needs neither TensorFlow nor protobuf.

A file is a sequence of TFRecords — u64le length, u32le masked CRC-32C of the 8 length bytes, the data,
u32le masked CRC-32C of the data — each holding one ``Event`` protobuf. Every CRC is checked; a bad one
raises ``FormatError`` naming the file and the byte offset (a record cut short at the end of a file that is
still being written is reported as ``truncated`` instead). CRC-32C here is computed bit by bit from the
Castagnoli polynomial, independently of the engine's table-driven writer.

    events = read_events(".induction-lab/runs/<id>/tensorboard")
    scalars(events)["fsl_train/loss"]   # [(step, value), …]
"""
from __future__ import annotations

import os
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .safetensors import FormatError

__all__ = ["crc32c", "masked_crc32c", "read_records", "parse_event", "read_events", "scalars", "event_files"]

_POLY = 0x82F63B78  # Castagnoli, bit-reflected


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: str) -> Tuple[List[bytes], bool]:
    """(record payloads, truncated): every CRC checked; `truncated` if the file ends inside a record."""
    with open(path, "rb") as f:
        buf = f.read()
    out: List[bytes] = []
    off = 0
    while off < len(buf):
        if off + 12 > len(buf):
            return out, True
        head = buf[off:off + 8]
        (n,) = struct.unpack("<Q", head)
        (hcrc,) = struct.unpack("<I", buf[off + 8:off + 12])
        if hcrc != masked_crc32c(head):
            raise FormatError(f"{path}: bad length CRC at byte {off}")
        if off + 12 + n + 4 > len(buf):
            return out, True
        data = buf[off + 12:off + 12 + n]
        (dcrc,) = struct.unpack("<I", buf[off + 12 + n:off + 16 + n])
        if dcrc != masked_crc32c(data):
            raise FormatError(f"{path}: bad data CRC in the record at byte {off}")
        out.append(data)
        off += 16 + n
    return out, False


# ---- protobuf wire format -------------------------------------------------------------------------------

def _varint(b: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _fields(b: bytes) -> Iterator[Tuple[int, int, Any]]:
    """(field number, wire type, value): varint -> int, 64-bit / 32-bit -> raw 8 / 4 bytes, length -> bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise FormatError(f"unsupported protobuf wire type {wire}")
        yield field, wire, v


def _summary_value(b: bytes) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for f, w, v in _fields(b):
        if f == 1:
            out["tag"] = v.decode("utf-8")
        elif f == 2 and w == 5:
            out["simple_value"] = struct.unpack("<f", v)[0]
        elif f == 9:
            for mf, _mw, mv in _fields(v):
                if mf == 1:
                    out["plugin"] = next((pv.decode() for pf, _pw, pv in _fields(mv) if pf == 1), "")
        elif f == 8:
            strings = [tv for tf, _tw, tv in _fields(v) if tf == 8]
            out["tensor_strings"] = [s.decode("utf-8") for s in strings]
    return out


def parse_event(b: bytes) -> Dict[str, Any]:
    """An Event as a dict: wall_time, step, and file_version / summary (list of values) / session_log."""
    ev: Dict[str, Any] = {"wall_time": 0.0, "step": 0}
    for f, w, v in _fields(b):
        if f == 1 and w == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0:
            ev["step"] = v
        elif f == 3:
            ev["file_version"] = v.decode("utf-8")
        elif f == 5:
            ev["summary"] = [_summary_value(sv) for sf, _sw, sv in _fields(v) if sf == 1]
        elif f == 7:
            log: Dict[str, Any] = {"status": 0}
            for lf, _lw, lv in _fields(v):
                if lf == 1:
                    log["status"] = lv
                elif lf == 3:
                    log["msg"] = lv.decode("utf-8")
            ev["session_log"] = log
    return ev


def event_files(path: str) -> List[str]:
    """The event files of a folder in TensorBoard's reading order (by name), or [path] for a file."""
    if os.path.isfile(path):
        return [path]
    return [os.path.join(path, f) for f in sorted(os.listdir(path)) if "tfevents" in f]


def read_events(path: str) -> List[Dict[str, Any]]:
    """Every event of a file, or of all event files in a folder in name order."""
    out: List[Dict[str, Any]] = []
    for f in event_files(path):
        records, _ = read_records(f)
        out.extend(parse_event(r) for r in records)
    return out


def scalars(events: List[Dict[str, Any]], purge: bool = True) -> Dict[str, List[Tuple[int, float]]]:
    """tag -> [(step, value)], purged as TensorBoard does: SessionLog START at s drops earlier points at steps >= s."""
    out: Dict[str, List[Tuple[int, float]]] = {}
    for ev in events:
        log: Optional[Dict[str, Any]] = ev.get("session_log")
        if purge and log and log.get("status") == 1:
            for tag in out:
                out[tag] = [(s, v) for s, v in out[tag] if s < ev["step"]]
        for val in ev.get("summary", []):
            if "simple_value" in val:
                out.setdefault(val["tag"], []).append((ev["step"], val["simple_value"]))
    return out
