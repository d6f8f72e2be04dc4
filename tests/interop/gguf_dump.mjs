// Dumps what @huggingface/gguf reads from a GGUF file as one JSON document, for
// test_gguf_interop.py to compare with `modl inspect --json --tensors`.
// 64-bit integers come back as BigInt: they are written as decimal strings.
import { gguf } from "@huggingface/gguf";

const path = process.argv[2];
const { typedMetadata, tensorInfos, tensorDataOffset, littleEndian } = await gguf(path, {
	allowLocalFile: true,
	typedMetadata: true,
});

const metadata = {};
for (const [key, entry] of Object.entries(typedMetadata)) {
	// The parser adds the header fields to the metadata: keep them apart.
	if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
	metadata[key] = { type: entry.type, subType: entry.subType ?? null, value: entry.value };
}

const doc = {
	version: typedMetadata.version.value,
	tensor_count: typedMetadata.tensor_count.value,
	kv_count: typedMetadata.kv_count.value,
	little_endian: littleEndian,
	data_offset: tensorDataOffset,
	metadata,
	tensors: tensorInfos.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, offset: t.offset })),
};

const replacer = (_key, value) => {
	if (typeof value === "bigint") return value.toString();
	if (typeof value === "number" && !Number.isFinite(value)) return String(value);
	return value;
};
process.stdout.write(JSON.stringify(doc, replacer) + "\n");
