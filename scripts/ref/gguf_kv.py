"""Minimal reader for the key/value metadata of a GGUF file (v2/v3, little endian), and a
writer of metadata-only GGUF files.

llama-cpp-python's `Llama.metadata` only exposes values as strings, which is not enough to
compare whole tokenizer arrays (tokens, merges, token types) between two model files. This reads
the header directly; tensors are not touched. The writer makes vocabulary-only files that
llama.cpp loads with `vocab_only=True`. No third-party dependency.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
from typing import Any

_SCALARS = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_STRING = 8
_ARRAY = 9


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.unpack("<I")
            count = self.unpack("<Q")
            if etype in _SCALARS:
                fmt = _SCALARS[etype]
                size = struct.calcsize(fmt)
                values = list(struct.unpack_from("<" + fmt[1:] * count, self.buf, self.pos))
                self.pos += size * count
                return values
            return [self.value(etype) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {vtype} at byte {self.pos}")


def read_metadata(path: str) -> dict[str, Any]:
    """Return every metadata key of the GGUF file at `path` with its decoded value."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        magic = bytes(buf[0:4])
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file (magic {magic!r})")
        cur.pos = 4
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise ValueError(f"{path}: unsupported GGUF version {version}")
        cur.unpack("<Q")  # tensor count
        kv_count = cur.unpack("<Q")
        meta: dict[str, Any] = {"GGUF.version": version}
        for _ in range(kv_count):
            key = cur.string()
            vtype = cur.unpack("<I")
            meta[key] = cur.value(vtype)
        return meta


def _pack_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


_ARRAY_TYPES = {"str": _STRING, "f32": 6, "i32": 5}


def _pack_value(value: Any) -> bytes:
    """bool, int (uint32), float (float32), str, or ("str" | "f32" | "i32", list) for arrays."""
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<II", 4, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<I", _STRING) + _pack_string(value)
    kind, items = value
    head = struct.pack("<IIQ", _ARRAY, _ARRAY_TYPES[kind], len(items))
    if kind == "str":
        return head + b"".join(_pack_string(item) for item in items)
    return head + struct.pack("<" + _SCALARS[_ARRAY_TYPES[kind]][1:] * len(items), *items)


def write_metadata(path, metadata: dict[str, Any]) -> None:
    """Write a GGUF v3 file holding `metadata` and no tensors (values as `_pack_value` takes them)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)))
    for key, value in metadata.items():
        out += _pack_string(key) + _pack_value(value)
    with open(path, "wb") as f:
        f.write(out)


def value_sha256(value: Any) -> str:
    """Stable hash of a metadata value (compact JSON, UTF-8, surrogates kept as escapes)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()
