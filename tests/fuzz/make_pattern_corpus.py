#!/usr/bin/env python3
"""Writes the seed corpus for pattern_fuzzer: patterns of every operator of docs/patterns.md
(one JSON document per line), "%%", then events they match and miss. Run from the
repository root: python3 tests/fuzz/make_pattern_corpus.py"""
import json
import os

OUT = os.path.join(os.path.dirname(__file__), "corpus", "pattern")

SEEDS = {
    "envelope": (
        [{"source": ["shop"], "type": [{"prefix": "order."}]},
         {"type": [{"suffix": ".created"}], "subject": [{"exists": False}]},
         {"source": [{"anything-but": ["billing", "audit"]}]}],
        [{"source": "shop", "type": "order.created", "time": "2024-05-01T12:00:00.123Z"},
         {"source": "billing", "type": "invoice.created", "subject": "x"},
         {"source": "shop", "type": "cart.updated"}]),
    "numbers": (
        [{"data": {"amount": [{"numeric": [">=", 100, "<", 1000]}], "currency": ["EUR", "USD"]}},
         {"data": {"n": [300, {"numeric": ["=", 3.018e2]}]}},
         {"data": {"price": [{"$and": [{"numeric": [">", 0]}, {"anything-but": [5]}]}]}}],
        [{"data": {"amount": 250, "currency": "EUR", "n": 3.0e2, "price": 5}},
         {"data": {"amount": 99.5, "currency": ["USD", "EUR"], "price": 6}},
         {"data": {"amount": "250", "n": 301.8, "price": -1}}]),
    "strings": (
        [{"data": {"state": [{"anything-but": ["cancelled", "refunded"]}], "coupon": [{"exists": False}]}},
         {"headers": {"region": [{"equals-ignore-case": "EU"}]}, "data": {"client_ip": [{"cidr": "10.0.0.0/8"}]}},
         {"data": {"file": [{"wildcard": "*/bin/*.jar"}, {"suffix": {"equals-ignore-case": ".PNG"}}]}},
         {"data": {"v": ["", None, True], "w": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
         {"data": {"ip6": [{"cidr": "2001:db8::/32"}], "x": [{"anything-but": {"prefix": ["init", "err"]}}]}}],
        [{"headers": {"region": "eu"}, "data": {"state": "open", "client_ip": "10.1.2.3", "file": "/opt/bin/app.jar"}},
         {"data": {"state": "refunded", "coupon": "X", "file": "PIC.png", "v": "", "w": "eventbridge"}},
         {"data": {"ip6": "2001:db8::1", "x": "error", "v": None}},
         {"data": {"state": {"nested": 1}, "coupon": [], "v": True}}]),
    "arrays_and_or": (
        [{"data": {"items": {"sku": ["A"], "qty": [2]}}},
         {"$or": [{"data": {"a": ["1"]}}, {"data": {"b": [{"exists": True}]}}]},
         {"data": {"$or": [{"c": [{"numeric": ["<", 0]}]}, {"d": ["x"]}]}}],
        [{"data": {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}},
         {"data": {"items": [{"sku": "A", "qty": 2}], "a": ["0", "1"], "c": -3}},
         {"data": {"b": None, "d": ["y", ["x"]]}}]),
    "invalid_patterns": (
        [{"data": {"s": [{"prefx": "a"}]}},
         {"data": {"n": [{"numeric": ["<", 5, ">", 9]}]}},
         {"data": {"w": [{"wildcard": "a**b"}]}},
         {"$or": [{"a": ["1"]}]},
         {"data": {}}],
        [{"data": {"s": "a"}}]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (patterns, events) in SEEDS.items():
        lines = [json.dumps(p, ensure_ascii=False) for p in patterns] + ["%%"]
        lines += [json.dumps(e, ensure_ascii=False) for e in events]
        with open(os.path.join(OUT, "seed_" + name), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
