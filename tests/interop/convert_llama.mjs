// llama.cpp (node-llama-cpp, pinned in llama/package.json) as the judge of modl
// convert's output, for tests/interop/test_convert_*.py and bench/convert.py:
//
//   node convert_llama.mjs logits MODEL.gguf IDS.json OUT.json
//       IDS.json: [[id, ...], ...]. Evaluates each list from an empty context and writes
//       {"logits": [[[float x n_vocab] per position] per list]}. Flash attention off and
//       F32 K/V cache, so that the numbers can be compared with a float reference.
//   node convert_llama.mjs tokenize|tokenize-special MODEL.gguf TEXTS.json OUT.json
//       Loads the vocabulary only and writes {"ids": [[id, ...] per text]}: llama.cpp's
//       tokenization without BOS/EOS; tokenize-special also matches special tokens in
//       the text, as Hugging Face tokenizers always do with added tokens.
//   node convert_llama.mjs generate MODEL.gguf N OUT.json
//       Greedy generation of N tokens after BOS; writes {"ids": [...], "text": "..."}.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { getLlama, LlamaLogLevel } = await import(
    pathToFileURL(path.join(here, "llama", "node_modules", "node-llama-cpp", "dist", "index.js")).href);

const [mode, modelPath, arg, outPath] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });

function write(obj) {
    fs.writeFileSync(outPath, JSON.stringify(obj));
}

if (mode === "tokenize" || mode === "tokenize-special") {
    const model = await llama.loadModel({ modelPath, vocabOnly: true });
    const texts = JSON.parse(fs.readFileSync(arg, "utf8"));
    write({ ids: texts.map((t) => Array.from(model.tokenize(t, mode === "tokenize-special"))) });
    await model.dispose();
} else if (mode === "logits") {
    const model = await llama.loadModel({ modelPath, useMmap: false });
    const lists = JSON.parse(fs.readFileSync(arg, "utf8"));
    const longest = Math.max(...lists.map((l) => l.length));
    const out = [];
    for (const ids of lists) {
        const context = await model.createContext({
            contextSize: Math.max(64, longest + 8), batchSize: Math.max(64, longest + 8), sequences: 1,
            flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
        });
        const sequence = context.getSequence();
        const res = await sequence.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true } }]));
        out.push(res.map((r) => {
            const dense = new Array(r.next.logits.size).fill(null);
            for (const [token, value] of r.next.logits)
                dense[token] = value;
            return dense;
        }));
        await context.dispose();
    }
    write({ logits: out });
    await model.dispose();
} else if (mode === "generate") {
    const model = await llama.loadModel({ modelPath });
    const n = parseInt(arg, 10);
    const context = await model.createContext({ contextSize: Math.max(64, n + 8), flashAttention: false, threads: 1 });
    const sequence = context.getSequence();
    const ids = [];
    let last = model.tokens.bos;
    while (ids.length < n) { /* greedy: the largest logit, one token at a time */
        const [res] = await sequence.controlledEvaluate([[last, { generateNext: { logits: true } }]]);
        let best = -1, bestValue = -Infinity;
        for (const [token, value] of res.next.logits)
            if (value > bestValue) {
                best = token;
                bestValue = value;
            }
        ids.push(best);
        last = best;
    }
    write({ ids, text: model.detokenize(ids) });
    await context.dispose();
    await model.dispose();
} else {
    console.error("usage: convert_llama.mjs logits|tokenize|generate MODEL ARG OUT");
    process.exit(2);
}
await llama.dispose();
