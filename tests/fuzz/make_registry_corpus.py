#!/usr/bin/env python3
"""Writes the seed corpora for registry_schema_fuzzer and registry_rest_fuzzer: valid schemas
and REST bodies (docs/registry.md) plus malformed ones. Run from the repository root:
python3 tests/fuzz/make_registry_corpus.py"""
import json
import os

HERE = os.path.dirname(__file__)

ORDER = "namespace shop;\nenum Channel : byte { Web, Store }\nstruct Money { units:long; nanos:int; }\n" \
        "table Item { sku:string (key); qty:uint = 1; }\nunion Payment { Item }\n" \
        "table Order { id:ulong; amount:Money; items:[Item]; channel:Channel = Store; pay:Payment; " \
        "note:string (deprecated); tags:[string]; }\nroot_type Order;\n"
ORDER_V2 = ORDER.replace("tags:[string]; }", "tags:[string]; coupon:string; }")
ORDER_BROKEN = ORDER.replace("amount:int;", "amount:long;").replace("id:ulong;", "id:uint;")

SCHEMAS = {
    "valid_order": "shop.Order\n" + ORDER,
    "valid_own_root": "\n" + ORDER,
    "valid_evolution": "shop.Order\n" + ORDER + "\n%%\nshop.Order\n" + ORDER_V2,
    "incompatible_evolution": "shop.Order\n" + ORDER + "\n%%\nshop.Order\n" + ORDER_BROKEN,
    "recursive": "T\ntable T { next:T; kids:[T]; v:int; }\n",
    "fixed_arrays": "S\nstruct S { a:[int:4]; b:byte; }\ntable T { s:S; }\n",
    "root_is_struct": "S\nstruct S { a:int; }\n",
    "undeclared_root": "Nope\ntable T { a:int; }\n",
    "include": "T\ninclude \"other.fbs\";\ntable T { a:int; }\n",
    "unterminated": "T\ntable T { a:int\n",
    "bad_type": "T\ntable T { a:unknown_type; }\n",
    "duplicate_field": "T\ntable T { a:int; a:long; }\n",
    "ids": "T\ntable T { b:int (id: 1); a:int (id: 0); }\n",
    "bad_ids": "T\ntable T { b:int (id: 5); a:int (id: 0); }\n",
    "nul_byte": "T\ntable T { a:int; }\x00table U {}\n",
    "attributes": "T\nattribute \"priority\";\ntable T (priority: 1) { a:int (priority: 2); }\n",
    "rpc": "T\ntable T { a:int; }\nrpc_service S { Call(T):T; }\n",
    "empty": "",
}

BODY = {"schema": ORDER, "schemaType": "FLATBUFFERS", "rootType": "shop.Order"}
REST = {
    "register": "POST /subjects/orders/versions\n" + json.dumps(BODY),
    "register_v2": "POST /subjects/orders/versions\n" + json.dumps(dict(BODY, schema=ORDER_V2)),
    "register_incompatible": "POST /subjects/orders/versions\n" + json.dumps(dict(BODY, schema=ORDER_BROKEN)),
    "register_with_reference": "POST /subjects/withref/versions\n" + json.dumps(
        dict(BODY, references=[{"name": "order.fbs", "subject": "orders", "version": 1}])),
    "reference_name_not_string": "POST /subjects/withref/versions\n" + json.dumps(
        dict(BODY, references=[{"name": 5, "subject": "orders", "version": 1}])),
    "reference_version_huge": "POST /subjects/withref/versions\n" + json.dumps(
        dict(BODY, references=[{"name": "x", "subject": "orders", "version": 99999999999}])),
    "references_not_array": "POST /subjects/withref/versions\n" + json.dumps(dict(BODY, references={"a": 1})),
    "lookup": "POST /subjects/orders?deleted=true\n" + json.dumps(BODY),
    "compat_latest": "POST /compatibility/subjects/orders/versions/latest?verbose=true\n" + json.dumps(
        dict(BODY, schema=ORDER_BROKEN)),
    "compat_version": "POST /compatibility/subjects/orders/versions/1\n" + json.dumps(BODY),
    "config_global": "PUT /config\n" + json.dumps({"compatibility": "full_transitive"}),
    "config_subject": "PUT /config/orders\n" + json.dumps({"compatibility": "NONE"}),
    "config_not_string": "PUT /config/orders\n" + json.dumps({"compatibility": ["FULL"]}),
    "schema_type_other": "POST /subjects/x/versions\n" + json.dumps(dict(BODY, schemaType="AVRO")),
    "schema_type_number": "POST /subjects/x/versions\n" + json.dumps(dict(BODY, schemaType=7)),
    "root_type_number": "POST /subjects/x/versions\n" + json.dumps(dict(BODY, rootType=1)),
    "schema_missing": "POST /subjects/x/versions\n" + json.dumps({"rootType": "T"}),
    "body_array": "POST /subjects/x/versions\n[1,2,3]",
    "body_truncated": "POST /subjects/x/versions\n" + json.dumps(BODY)[:40],
    "body_deep": "POST /subjects/x/versions\n" + "[" * 2000 + "]" * 2000,
    "get_version": "GET /subjects/orders/versions/latest\n",
    "get_by_id": "GET /schemas/ids/1/versions?deleted=true\n",
    "delete_version": "DELETE /subjects/orders/versions/2\n",
    "delete_permanent": "DELETE /subjects/orders/versions/2?permanent=true\n",
    "encoded_subject": "POST /subjects/a%2Fb%00c/versions\n" + json.dumps(BODY),
    "bad_version": "GET /subjects/orders/versions/0x10\n",
    "raw_body_only": json.dumps(BODY),
}


def write(name, files):
    out = os.path.join(HERE, "corpus", name)
    os.makedirs(out, exist_ok=True)
    for fname, text in files.items():
        with open(os.path.join(out, "seed_" + fname), "wb") as f:
            f.write(text.encode("utf-8"))


write("registry_schema", SCHEMAS)
write("registry_rest", REST)
