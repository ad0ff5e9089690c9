#!/usr/bin/env python3
"""Writes the seed corpus for cli_payload_fuzzer: `causeway publish` lines for the built-in
shop.Order schema, and schemas with the FlatBuffers features whose JSON and text forms are
most intricate (unions, nested FlatBuffers, FlexBuffers, fixed arrays, bit flags, keys,
every scalar type) each with lines for them. An event's "key" damages its encoded payload at
(position, byte) pairs (see the fuzzer). Run from the repository root:
python3 tests/fuzz/make_cli_corpus.py"""
import json
import os

OUT = os.path.join(os.path.dirname(__file__), "corpus", "cli_payload")


def line(data, **fields):
    obj = dict(fields)
    obj["data"] = data
    return json.dumps(obj, ensure_ascii=False)


ORDER_LINES = [
    line({"id": 42, "total": {"units": 12, "nanos": 500}, "items": [{"sku": "a-1", "qty": 3}, {"sku": "b"}],
          "channel": "Web", "note": "ünïcode \"q\"", "ratio": 0.25}, key="c1", dedup_key="o-42",
         source="orders-service", type="order.created", headers={"trace": "t-1"}),
    line({"id": 1}, key="\u0004\u00ff\u0009\u0000", partition=2, schema_id=7),
    line({"channel": 1, "ratio": -1e300, "items": []}),
    line("plain bytes as the payload"),
    line({"id": 18446744073709551615, "total": {"units": -9223372036854775808, "nanos": 2147483647}}),
    '{"data":{"id":"7","ratio":"nan"}}',
    '{"data":{"note":"\\ud800"}}',
    '{"data":{"colour":"red"}}',
    '{"data":[1,2]}',
    '{"key":1,"data":"x"}',
    'not json',
]

SCHEMAS = {
    "union": ("R", """
table A { x:int; tag:string; }
table B { y:[string]; z:double = 1.5; }
struct P { a:short; b:ubyte; }
union U { A, B, AA: A }
table R { u:U; n:int; p:P; }
root_type R;
""", [
        line({"u_type": "A", "u": {"x": 5, "tag": "t"}, "n": 3, "p": {"a": -2, "b": 7}}, key="\u0008\u0000"),
        line({"u_type": "B", "u": {"y": ["a", "b"], "z": 2.5}}),
        line({"u_type": "AA", "u": {"x": 2}}),
        line({"u_type": "NONE"}),
        line({"u": {"x": 1}}),
    ]),
    # The registry refuses vectors of unions (FlatBuffers 2.0.8 cannot verify them safely).
    "union_vector": ("R", """
table A { x:int; }
union U { A }
table R { us:[U]; }
root_type R;
""", [
        line({"us_type": ["A"], "us": [{"x": 1}]}),
    ]),
    "nested": ("Outer", """
table Inner { s:string; v:[long]; }
table Outer {
  nested:[ubyte] (nested_flatbuffer: "Inner");
  flex:[ubyte] (flexbuffer);
  raw:[ubyte];
}
root_type Outer;
""", [
        line({"nested": {"s": "inside", "v": [1, -2, 3]}, "flex": {"a": [1, 2.5, "x", True, None]}, "raw": [0, 255]},
             key="\u0010\u00ff\u0014\u007f"),
        line({"flex": [1, [2, [3, {"k": "v"}]]]}, key="\u0020\u0001"),
        line({"nested": {}}),
    ]),
    "scalars": ("T", """
enum Color : ubyte (bit_flags) { Red, Green, Blue }
enum Level : short { Low = -1, Mid = 0, High = 300 }
struct Arr { a:[int:3]; c:[ubyte:2]; }
table Kv { k:string (key); v:uint; }
table T {
  b:bool; i8:byte; u8:ubyte; i16:short; u16:ushort; i32:int; u32:uint; i64:long; u64:ulong;
  f:float = 3.5; d:double; color:Color = Red; level:Level = High; arr:Arr;
  kvs:[Kv]; names:[string]; old:int (deprecated); opt:int = null; req:string (required);
}
root_type T;
""", [
        line({"b": True, "i8": -128, "u8": 255, "i16": -32768, "u16": 65535, "i32": -2147483648, "u32": 4294967295,
              "i64": -9223372036854775808, "u64": 18446744073709551615, "f": 1e-40, "d": 1e308,
              "color": "Red Blue", "level": "Low", "arr": {"a": [1, 2, 3], "c": [4, 5]},
              "kvs": [{"k": "b", "v": 2}, {"k": "a", "v": 1}], "names": ["x", ""], "opt": 0, "req": "r"}),
        line({"req": "only the required field"}),
        line({"i8": 300, "req": "out of range"}),
        line({"old": 1, "req": "deprecated"}),
        line({"color": 7, "level": 5, "req": "unnamed values"}),
    ]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "seed_order_lines"), "w", encoding="utf-8") as f:
        f.write("\n".join(ORDER_LINES) + "\n")
    for name, (root, fbs, lines) in SCHEMAS.items():
        with open(os.path.join(OUT, "seed_" + name), "w", encoding="utf-8") as f:
            f.write(root + "\n" + fbs.strip() + "\n%%\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
