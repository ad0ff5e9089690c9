#!/usr/bin/env python3
"""Writes the seed corpus for batch_fuzzer: valid batches per docs/log-format.md plus a few
near misses. Run from the repository root: python3 tests/fuzz/make_batch_corpus.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "batch")


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def short(s: bytes) -> bytes:
    return struct.pack("<H", len(s)) + s


def record(delta, schema, key, dedup, source, typ, headers, payload):
    # lamport_delta = offset_delta (consecutive stamps), time_delta_ms = 0 (one time per batch)
    body = struct.pack("<IIiI", delta, delta, 0, schema)
    body += short(key) + short(dedup) + short(source) + short(typ)
    body += struct.pack("<H", len(headers))
    for name, value in headers:
        body += short(name) + struct.pack("<I", len(value)) + value
    body += struct.pack("<I", len(payload)) + payload
    return struct.pack("<I", len(body)) + body


def batch(base, first_lamport, time_ms, records):
    body = b"".join(record(i, *r) for i, r in enumerate(records))
    fields = struct.pack("<IBBHQIIQQqq", len(body), 0xC5, 1, 0, base, len(records), 0,
                         first_lamport, first_lamport + len(records) - 1, time_ms, time_ms)
    batch_crc = mask(crc32c(body + fields))
    after_header_crc = struct.pack("<I", batch_crc) + fields
    header_crc = mask(crc32c(after_header_crc))
    return struct.pack("<I", header_crc) + after_header_crc + body


def main():
    os.makedirs(OUT, exist_ok=True)
    one = batch(7, 42, 1700000000000, [(0, b"k", b"", b"s", b"t", [], b"hi")])
    many = batch(1000, 5, 1, [(i % 3, b"key%d" % i, b"dedup-%d" % i, b"orders", b"OrderPlaced",
                               [(b"trace", b"t-%d" % i)], bytes([65 + i]) * (i * 7)) for i in range(6)])
    seeds = {
        "one_record": one,
        "six_records_with_headers": many,
        "truncated_body": many[:-5],
        "header_only": one[:64],
        "flipped_body_byte": one[:70] + bytes([one[70] ^ 1]) + one[71:],
        "two_batches": one + many,
        "empty": b"",
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed_" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
