"""Interoperability: modl's importance-matrix reader on a GGUF imatrix that ggml itself
wrote. imatrix_ggml.c loads the libggml-base.so that node-llama-cpp ships (llama.cpp
v0.5.0, the same library as test_quant_oracle), writes an imatrix with ggml's GGUF writer
in llama-imatrix's layout (doc/gguf.md §7.1: a dense entry, an MoE entry with an expert
that never fired and a count that rounds, an entry whose count rounds to 0), reads it with
formats/imatrix and compares every importance bit for bit with llama-quantize's
arithmetic. The legacy .dat format has no writer in that library: tests/unit/test_imatrix.c
covers it byte by byte."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from test_quant_oracle import ggml_base, install_llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FORMATS = ["fmt.c", "fmt_map.c", "fmt_names.c", "gguf.c", "gguf_types.c", "imatrix.c"]


class ImatrixFromGgml(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_llama()
        cls.tmp = tempfile.mkdtemp(prefix="modl-imatrix-interop-")
        exe = os.path.join(cls.tmp, "imatrix_ggml")
        sources = [os.path.join(HERE, "imatrix_ggml.c")]
        sources += [os.path.join(ROOT, "formats", f) for f in FORMATS]
        subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-iquote", ROOT, "-D_DEFAULT_SOURCE",
                        "-D_XOPEN_SOURCE=700", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        "-o", exe] + sources + ["-ldl", "-lm"], check=True)
        proc = subprocess.run([exe, ggml_base(), os.path.join(cls.tmp, "imatrix.gguf")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=300)
        cls.returncode, cls.out, cls.err = proc.returncode, proc.stdout, proc.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_read_back_exactly(self):
        self.assertEqual(self.returncode, 0, self.out + self.err)
        self.assertEqual(self.err.strip(), "")
        summary = re.search(r"^summary (.*)$", self.out, re.M)
        self.assertIsNotNone(summary, self.out)
        fields = dict(kv.split("=", 1) for kv in summary.group(1).split())
        self.assertEqual(fields, {"entries": "3", "chunks": "17", "chunk_size": "512",
                                  "datasets": "2", "mismatches": "0"})

    def test_experts_that_never_fired(self):
        rows = {m.group(1): m.group(2) for m in
                re.finditer(r"^entry name=(\S+) .*empty=(\d+) mismatches=0$", self.out, re.M)}
        self.assertEqual(rows, {"blk.0.attn_q.weight": "0", "blk.0.ffn_down_exps.weight": "1",
                                "output.weight": "1"})


if __name__ == "__main__":
    unittest.main()
