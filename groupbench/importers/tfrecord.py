"""TFRecord files and the ``tf.train.Example`` wire format, read without TensorFlow.

A TFRecord file is a sequence of records, each framed as

    uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | payload | uint32 masked CRC32C of the payload

with masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 modulo 2^32 (TensorFlow's
``tsl/lib/hash/crc32c.h``). DeepMind's files are one gzip stream over all records. `iter_records`
decompresses incrementally (ISA-L), checks both CRCs of every record, and holds about one
decompressed piece (`PIECE_BYTES`) plus one record at a time.

`parse_example` decodes a serialized ``Example``: ``Example.features`` (field 1) is a ``Features``
whose field 1 is the map<string, Feature> (entries: key = field 1, value = field 2); a ``Feature``
holds one of bytes_list (1), float_list (2) or int64_list (3), each a repeated field 1 (floats
and int64s packed or not).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # ISA-L inflates faster; zlib reads the same streams
    from isal import isal_zlib
except ImportError:
    import zlib as isal_zlib

from groupbench.errors import GroupbenchError

GZIP_MAGIC = b"\x1f\x8b"
READ_BYTES = 256 * 1024
"""Compressed bytes read from disk at a time."""
PIECE_BYTES = 4 * 1024 * 1024
"""Most decompressed bytes produced at a time (the data compress about 90:1, so reads are small)."""
MAX_RECORD_BYTES = 1 << 31
"""Larger records are refused: no record of these datasets comes near (CATER's are about 1 MB)."""


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC32C (Castagnoli) of ``data``."""
    crc = crc32c_module().value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc32c_module():
    """The google_crc32c module (needed only to read TFRecord files; optional at import)."""
    try:
        import google_crc32c
    except ImportError:
        raise GroupbenchError("reading TFRecord files checks CRC32C: pip install google-crc32c") from None
    return google_crc32c


class _Truncated(Exception):
    """The compressed stream ended before its end marker."""


class _Corrupt(Exception):
    """The gzip data cannot be decompressed."""


def _plain_pieces(handle) -> Iterator[bytes]:
    while True:
        data = handle.read(PIECE_BYTES)
        if not data:
            return
        yield data


def _gzip_pieces(handle) -> Iterator[bytes]:
    """Decompressed pieces of a gzip file (one or more members), at most `PIECE_BYTES` each."""
    decompressor = isal_zlib.decompressobj(wbits=31)
    begun = False  # the current member has received data
    while True:
        data = handle.read(READ_BYTES)
        if not data:
            if begun:
                raise _Truncated
            return
        while data:
            begun = True
            try:
                out = decompressor.decompress(data, PIECE_BYTES)
            except isal_zlib.error as exc:
                raise _Corrupt(str(exc)) from None
            if out:
                yield out
            if decompressor.eof:
                rest = decompressor.unused_data + decompressor.unconsumed_tail
                if rest and not rest.startswith(GZIP_MAGIC[: len(rest)]):
                    raise _Corrupt("data after the end of the gzip stream")
                decompressor, begun = isal_zlib.decompressobj(wbits=31), False
                data = rest
            else:
                data = decompressor.unconsumed_tail


class _Stream:
    """Reads of exact sizes over an iterator of byte pieces, copying each byte once."""

    def __init__(self, pieces: Iterator[bytes]):
        self._pieces = pieces
        self._buffer = b""
        self._pos = 0

    def read(self, n: int) -> bytes:
        """``n`` bytes, or fewer at the end of the data."""
        stop = self._pos + n
        if stop <= len(self._buffer):
            self._pos = stop
            return self._buffer[stop - n : stop]
        parts = [self._buffer[self._pos :]]
        need = n - len(parts[0])
        self._buffer, self._pos = b"", 0
        while need > 0:
            piece = next(self._pieces, None)
            if piece is None:
                break
            if len(piece) > need:
                parts.append(piece[:need])
                self._buffer, self._pos = piece, need
                break
            parts.append(piece)
            need -= len(piece)
        return b"".join(parts)


def _header_ok(header: bytes) -> bool:
    return len(header) == 12 and masked_crc32c(header[:8]) == int.from_bytes(header[8:], "little")


def iter_records(path: str | Path, *, limit: int | None = None) -> Iterator[bytes]:
    """The payloads of the records of a TFRecord file (gzip-compressed or not), in order.

    Stops after ``limit`` records if given. Raises GroupbenchError, naming the record, for a file
    that is not gzip or not a TFRecord, a truncated file, corrupted gzip data or a CRC mismatch.
    """
    path = Path(path)
    if not path.exists():
        raise GroupbenchError(f"{path}: no such file")
    if path.is_dir():
        raise GroupbenchError(f"{path}: is a directory, expected a TFRecord file")
    with open(path, "rb") as handle:
        head = handle.read(12)
        handle.seek(0)
        if head.startswith(GZIP_MAGIC):
            compressed, stream = True, _Stream(_gzip_pieces(handle))
        elif _header_ok(head):
            compressed, stream = False, _Stream(_plain_pieces(handle))
        elif not head:
            raise GroupbenchError(f"{path}: empty file, expected a gzip-compressed TFRecord file")
        else:
            raise GroupbenchError(f"{path}: not a gzip file (nor an uncompressed TFRecord file); DeepMind's .tfrecords files are gzip-compressed")
        index = 0
        try:
            while limit is None or index < limit:
                header = stream.read(12)
                if not header:
                    return
                if len(header) < 12:
                    if index == 0:
                        raise GroupbenchError(f"{path}: not a TFRecord file (shorter than one record header)")
                    raise _Truncated
                length, length_crc = struct.unpack("<QI", header)
                if masked_crc32c(header[:8]) != length_crc:
                    if index == 0:
                        raise GroupbenchError(f"{path}: not a TFRecord file (the first record's header has no valid CRC)")
                    raise GroupbenchError(f"{path}: record {index}: CRC mismatch in the record header (file corrupted)")
                if length > MAX_RECORD_BYTES:
                    raise GroupbenchError(f"{path}: record {index}: length {length:,} bytes is not plausible (file corrupted)")
                payload = stream.read(length)
                data_crc = stream.read(4)
                if len(data_crc) < 4:
                    raise _Truncated
                if masked_crc32c(payload) != int.from_bytes(data_crc, "little"):
                    raise GroupbenchError(f"{path}: record {index}: CRC mismatch in the record data (file corrupted)")
                yield payload
                index += 1
        except _Truncated:
            where = "gzip stream" if compressed else "file"
            raise GroupbenchError(
                f"{path}: truncated: the {where} breaks off in record {index} (an interrupted download?); "
                f"only the first {index:,} records are complete"
            ) from None
        except _Corrupt as exc:
            raise GroupbenchError(f"{path}: gzip data corrupted at record {index} ({exc})") from None


def count_records(path: str | Path, stop: int | None = None) -> int:
    """Number of records in the file, or ``stop`` if it holds at least that many (reads no further)."""
    return sum(1 for _ in iter_records(path, limit=stop))


# --- tf.train.Example -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """One feature of an Example: ``kind`` is "bytes", "float" or "int64".

    ``values``: for bytes, all elements concatenated (uint8); for float, float32; for int64, int64.
    ``count``: number of list elements (for bytes, the number of strings).
    """

    kind: str
    values: np.ndarray
    count: int
    span: tuple[int, int] | None = None
    """[start, end) of the values in the payload, where they lie there in one piece: a bytes list
    of one-byte strings (`ONE_BYTE_STRINGS`) or a float list packed in one field; else None."""


class MalformedExample(ValueError):
    """The payload is not a serialized tf.train.Example."""


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end and data[pos] < 0x80:  # one byte: most keys and lengths
        return data[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= end:
            raise MalformedExample("a varint runs past the end of its message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedExample("a varint is longer than 10 bytes")


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field of a message.

    For wire type 0 (varint) the value is decoded and returned as start, with end = -1.
    """
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise MalformedExample("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos, end)
            yield number, wire, value, -1
            continue
        if wire == 2:
            size, pos = _varint(data, pos, end)
            stop = pos + size
        elif wire == 1:
            stop = pos + 8
        elif wire == 5:
            stop = pos + 4
        else:
            raise MalformedExample(f"wire type {wire}")
        if stop > end:
            raise MalformedExample("a field runs past the end of its message")
        yield number, wire, pos, stop
        pos = stop


ONE_BYTE_STRINGS = np.dtype([("head", "<u2"), ("value", "u1")])
"""A BytesList element holding one byte: tag 0x0a (field 1, length-delimited), length 0x01, the byte."""
ONE_BYTE_HEAD = 0x010A


def _one_byte_strings(data: bytes, start: int, end: int) -> np.ndarray | None:
    """The bytes of a BytesList made of one-byte strings only (DeepMind's images and masks), else None."""
    if (end - start) % 3:
        return None
    elements = np.frombuffer(data, ONE_BYTE_STRINGS, count=(end - start) // 3, offset=start)
    return elements["value"] if (elements["head"] == ONE_BYTE_HEAD).all() else None


def _bytes_list(data: bytes, start: int, end: int) -> Feature:
    values = _one_byte_strings(data, start, end)
    if values is not None:  # the fast path
        return Feature("bytes", values, len(values), (start, end))
    parts = []
    for number, wire, a, b in _fields(data, start, end):
        if number == 1:
            if wire != 2:
                raise MalformedExample("a BytesList element is not length-delimited")
            parts.append(data[a:b])
    return Feature("bytes", np.frombuffer(b"".join(parts), np.uint8), len(parts))


def _float_list(data: bytes, start: int, end: int) -> Feature:
    parts, spans = [], []
    for number, wire, a, b in _fields(data, start, end):
        if number != 1:
            continue
        if wire == 2 and (b - a) % 4 == 0:  # packed
            parts.append(np.frombuffer(data, "<f4", count=(b - a) // 4, offset=a))
            spans.append((a, b))
        elif wire == 5:
            parts.append(np.frombuffer(data, "<f4", count=1, offset=a))
            spans.append(None)
        else:
            raise MalformedExample("a FloatList value is neither packed nor fixed32")
    if len(parts) == 1:
        return Feature("float", parts[0], len(parts[0]), spans[0])
    values = np.concatenate(parts) if parts else np.zeros(0, "<f4")
    return Feature("float", values, len(values))


def _int64_list(data: bytes, start: int, end: int) -> Feature:
    values = []
    for number, wire, a, b in _fields(data, start, end):
        if number != 1:
            continue
        if wire == 0:
            values.append(a)
        elif wire == 2:  # packed varints
            pos = a
            while pos < b:
                value, pos = _varint(data, pos, b)
                values.append(value)
        else:
            raise MalformedExample("an Int64List value is neither packed nor a varint")
    unsigned = np.array(values, np.uint64) if values else np.zeros(0, np.uint64)
    return Feature("int64", unsigned.view(np.int64), len(values))


_LISTS = {1: _bytes_list, 2: _float_list, 3: _int64_list}


def _feature(data: bytes, start: int, end: int) -> Feature | None:
    found = None
    for number, wire, a, b in _fields(data, start, end):
        if number in _LISTS:
            if wire != 2:
                raise MalformedExample("a Feature's list is not length-delimited")
            found = _LISTS[number](data, a, b)  # a oneof: the last one wins
    return found


def parse_example(payload: bytes) -> dict[str, Feature]:
    """Feature name -> `Feature` of a serialized tf.train.Example; raises MalformedExample.

    Unknown fields are skipped; a feature set twice keeps its last value (protobuf's rules).
    A Feature with no list set is left out.
    """
    features: dict[str, Feature] = {}
    end = len(payload)
    for number, wire, a, b in _fields(payload, 0, end):
        if number != 1:
            continue
        if wire != 2:
            raise MalformedExample("Example.features is not length-delimited")
        for entry_number, entry_wire, c, d in _fields(payload, a, b):
            if entry_number != 1:
                continue
            if entry_wire != 2:
                raise MalformedExample("a Features map entry is not length-delimited")
            key, value = "", None
            for field_number, field_wire, e, f in _fields(payload, c, d):
                if field_wire != 2 and field_number in (1, 2):
                    raise MalformedExample("a map entry's key or value is not length-delimited")
                if field_number == 1:
                    try:
                        key = payload[e:f].decode("utf-8")
                    except UnicodeDecodeError:
                        raise MalformedExample("a feature name is not UTF-8") from None
                elif field_number == 2:
                    value = _feature(payload, e, f)
            if value is not None:
                features[key] = value
            else:
                features.pop(key, None)
    return features


class ExampleLayout:
    """Where the values of some features lie in a serialized Example, learnt from one record.

    Records of one file usually share one structure (same features, same order, same lengths);
    `read` then takes the values by position, several times faster than `parse_example`. It
    accepts a payload only if it parses exactly as the one learnt from: same length, the same
    bytes everywhere outside the value regions (every tag, length and name), and the one-byte
    string pattern in every bytes region. The parser reads no other byte, so the parse is the same.
    """

    def __init__(self, payload: bytes, regions: dict[str, tuple[str, int, int]]):
        self.length = len(payload)
        self.regions = regions
        self.gaps: list[tuple[int, int, bytes]] = []
        pos = 0
        for _, start, end in sorted(regions.values(), key=lambda r: r[1]):
            if start > pos:
                self.gaps.append((pos, start, payload[pos:start]))
            pos = end
        if pos < len(payload):
            self.gaps.append((pos, len(payload), payload[pos:]))

    @classmethod
    def learn(cls, payload: bytes, features: dict[str, Feature], names) -> ExampleLayout | None:
        """The layout of ``names`` in a parsed payload, or None where one of them is not in one piece."""
        regions = {}
        for name in names:
            feature = features.get(name)
            if feature is None or feature.span is None or feature.kind not in ("bytes", "float"):
                return None
            regions[name] = (feature.kind, *feature.span)
        return cls(payload, regions)

    def read(self, payload: bytes) -> dict[str, np.ndarray] | None:
        """Name -> values (as `Feature.values`) if ``payload`` has this layout, else None."""
        if len(payload) != self.length:
            return None
        for start, end, expected in self.gaps:
            if payload[start:end] != expected:
                return None
        out = {}
        for name, (kind, start, end) in self.regions.items():
            if kind == "bytes":
                values = _one_byte_strings(payload, start, end)
                if values is None:
                    return None
                out[name] = values
            else:
                out[name] = np.frombuffer(payload, "<f4", count=(end - start) // 4, offset=start)
        return out
