"""A GGUF reader independent of modl (doc/gguf.md §2), in Python's stdlib alone: the metadata and
tensor infos of a little-endian GGUF file. Shared by tests/e2e/test_inspect.py and
tests/interop/quantize_tools.py (and through it the quantize and convert tests and
benchmarks). tests/e2e is on sys.path for every test tests/e2e/run.py runs.

Not a test module (no test_ prefix): importing it runs nothing."""
import struct

# value type id -> struct format of the scalar types (doc/gguf.md §2); BOOL (7) is read as its
# byte, so that a value other than 0 or 1 shows as what it is.
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q",
                  11: "q", 12: "d"}


def parse_gguf(b, errors="surrogateescape"):
    """{key: (type, element type, value)} in file order (a dict keeps it), the tensor infos
    [(name, ne, type, offset)], and the absolute data offset. Strings are decoded as UTF-8
    with the given error handler."""
    assert b[:4] == b"GGUF", "not a GGUF file"
    pos = 8
    n_tensors, n_kv = struct.unpack_from("<QQ", b, pos)
    pos += 16

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", b, pos)
        s = b[pos + 8:pos + 8 + n]
        pos += 8 + n
        return s.decode("utf-8", errors)

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, pos)
            pos += 12
            return [value(et) for _ in range(n)]
        fmt = "<" + SCALAR_FORMATS[t]
        (v,) = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return v

    kvs = {}
    for _ in range(n_kv):
        k = string()
        (t,) = struct.unpack_from("<I", b, pos)
        pos += 4
        elem = struct.unpack_from("<I", b, pos)[0] if t == 9 else None
        kvs[k] = (t, elem, value(t))
    tensors = []
    for _ in range(n_tensors):
        name = string()
        (n_dims,) = struct.unpack_from("<I", b, pos)
        ne = list(struct.unpack_from("<%dQ" % n_dims, b, pos + 4))
        pos += 4 + 8 * n_dims
        t, offset = struct.unpack_from("<IQ", b, pos)
        pos += 12
        tensors.append((name, ne, t, offset))
    align = kvs.get("general.alignment", (4, None, 32))[2]
    return kvs, tensors, pos + (-pos) % align
