// Loads GGUF models in llama.cpp (node-llama-cpp, CPU only) and runs them: for each path
// given, evaluates a short prompt with the logits of its last position, then generates a few
// tokens greedily. Prints one JSON line per model:
//   {"path": ..., "ok": true, "prompt": [ids], "generated": [ids], "logits_finite": true,
//    "logit_range": [min, max], "logit_rows": n}
// or {"path": ..., "ok": false, "error": "..."} when llama.cpp refuses the file.
// Used by test_quantize_llama.py to show that the files modl quantize writes load and run.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "llama", "package.json"));
const { getLlama } = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);

// One thread: ggml's workers spin at barriers, and on a busy 2-core machine two of them
// make a tiny model thousands of times slower than one.
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error", maxThreads: 1 });
for (const path of process.argv.slice(2)) {
	try {
		const model = await llama.loadModel({ modelPath: path });
		const context = await model.createContext({ contextSize: 256, flashAttention: false, threads: 1 });
		const sequence = context.getSequence();
		const prompt = model.tokenize("The quick brown fox jumps over the lazy dog");
		let finite = true, lo = Infinity, hi = -Infinity;
		// logits of the last position only: node-llama-cpp hands each one over as a Map
		// of the whole vocabulary, which is slow to build
		const items = prompt.map((t, i) => i === prompt.length - 1
			? [t, { generateNext: { logits: true } }] : t);
		const results = await sequence.controlledEvaluate(items);
		let rows = 0;
		for (const r of results) {
			const logits = r?.next?.logits;
			if (!logits) continue;
			rows++;
			for (const v of logits.values()) {
				if (!Number.isFinite(v)) finite = false;
				if (v < lo) lo = v;
				if (v > hi) hi = v;
			}
		}
		await sequence.clearHistory();
		const generated = [];
		for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
			generated.push(token);
			if (generated.length >= 6) break;
		}
		console.log(JSON.stringify({
			path, ok: true, prompt, generated, logits_finite: finite, logit_range: [lo, hi], logit_rows: rows,
		}));
		await context.dispose();
		await model.dispose();
	} catch (err) {
		console.log(JSON.stringify({ path, ok: false, error: String(err?.message ?? err) }));
	}
}
await llama.dispose();
