#!/usr/bin/python3
"""Writes the seed corpora of fuzz/corpus/<name>/ (run from anywhere; replaces the files it makes).

Seeds are small valid inputs of each parser, so the fuzzers start at the accepting paths:
npy — one file per supported dtype and a few shapes (including empty and 0-d), both header versions;
root_info — raw and hex root infos; bootstrap — Hello and Welcome messages (byte 0 selects the
parser); rank_table — rank-table JSON in its accepted spellings; the operator fuzzers, whose inputs
are FuzzedDataProvider streams, get fixed pseudo-random byte strings of a few lengths.
"""
import json
import os
import random
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(name, file, data):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy_bytes(arr, version=None):
    import io
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def npy():
    rng = np.random.default_rng(1)
    for dt in ["<f2", "<f4", "<f8", "|i1", "|u1", "<i4", "<i8", "<u8"]:
        tag = dt[1:]
        for shape in [(3, 4), (2, 1, 5), (0, 4), ()]:
            arr = (rng.standard_normal(shape) * 10).astype(dt)
            out("npy", f"{tag}_{'x'.join(map(str, shape)) or 'scalar'}.npy", npy_bytes(arr))
        out("npy", f"{tag}_v2.npy", npy_bytes(np.arange(6, dtype=dt).reshape(2, 3), version=(2, 0)))
    out("npy", "int8_int4_range.npy", npy_bytes(np.arange(-8, 8, dtype=np.int8).reshape(4, 4)))
    out("npy", "fortran.npy", npy_bytes(np.asfortranarray(np.ones((2, 3), dtype="<f4"))))
    out("npy", "bool_rejected.npy", npy_bytes(np.zeros(3, dtype=bool)))


MAGIC_ROOT = b"MC2ROOT1"


def root_info_raw(name, uid=1000, secret=None):
    secret = secret or bytes(range(32))
    return MAGIC_ROOT + struct.pack("<II", 1, uid) + secret + name.encode().ljust(48, b"\0")


def root_info():
    for i, name in enumerate(["mc2.0123456789abcdef01234567", "a", "mc2-x.y", "z" * 47]):
        raw = root_info_raw(name, uid=1000 + i)
        out("root_info", f"raw_{i}", raw)
        out("root_info", f"hex_{i}", raw.hex())
        out("root_info", f"hex_upper_{i}", raw.hex().upper())
    out("root_info", "raw_padded_to_hccl", root_info_raw("mc2.pad") + bytes(4108 - 96))


def bootstrap():
    hello = lambda rank, n, seg: b"\0" + struct.pack("<IIIIQ", 0x4D433248, 1, rank, n, seg) + bytes(range(32))
    for i, (rank, n, seg) in enumerate([(1, 2, 4096), (3, 8, 1 << 20), (249, 250, 1 << 40)]):
        out("bootstrap", f"hello_{i}", hello(rank, n, seg))

    def welcome(status, pids, seg=4096, reason=b""):
        return (b"\1" + struct.pack("<IiIIQ", 0x4D433257, status, len(pids), len(pids), seg) +
                reason.ljust(128, b"\0") + b"".join(struct.pack("<i", p) for p in pids))
    out("bootstrap", "welcome_2", welcome(0, [100, 101]))
    out("bootstrap", "welcome_8", welcome(0, list(range(1000, 1008)), seg=1 << 20))
    out("bootstrap", "welcome_refused", welcome(6, [], reason=b"wrong secret"))


def rank_table():
    def table(servers, as_strings=True):
        s = (lambda v: str(v)) if as_strings else (lambda v: v)
        rank = 0
        server_list = []
        for sid, ndev in servers:
            devs = []
            for d in range(ndev):
                devs.append({"device_id": s(d), "device_ip": f"192.168.1.{d}", "rank_id": s(rank)})
                rank += 1
            server_list.append({"server_id": sid, "device": devs})
        return json.dumps({"version": "1.0", "server_count": s(len(servers)), "status": "completed",
                           "server_list": server_list}, indent=1)
    out("rank_table", "one_server", table([("host-a", 2)]))
    out("rank_table", "two_servers", table([("host-a", 4), ("host-b", 4)]))
    out("rank_table", "numbers", table([("10.0.0.1", 1), ("10.0.0.2", 3)], as_strings=False))
    out("rank_table", "duplicate_rank", table([("a", 2)]).replace('"rank_id": "1"', '"rank_id": "0"'))
    out("rank_table", "empty_list", '{"server_list": []}')


def byte_seeds(name, count):
    rnd = random.Random(name)
    for i in range(count):
        n = [16, 64, 256, 1024][i % 4]
        out(name, f"random_{i}", bytes(rnd.randrange(256) for _ in range(n)))
    out(name, "zeros", bytes(64))


if __name__ == "__main__":
    npy()
    root_info()
    bootstrap()
    rank_table()
    for name in ["arn_validate", "moe_validate", "reference", "aclnn_arn", "aclnn_moe", "atb_lp"]:
        byte_seeds(name, 16)
