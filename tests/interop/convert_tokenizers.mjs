// Hugging Face's tokenizers.js (@huggingface/tokenizers, pinned in tokenizers/package.json)
// as the reference tokenization of a tokenizer.json, for test_convert_tokenizer.py:
//
//   node convert_tokenizers.mjs TOKENIZER.json TOKENIZER_CONFIG.json|- TEXTS.json OUT.json
//
// Writes {"ids": [[id, ...] per text]}: the encoding without special tokens added.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { Tokenizer } = await import(pathToFileURL(path.join(here, "tokenizers", "node_modules", "@huggingface",
    "tokenizers", "dist", "tokenizers.mjs")).href);

const [tokenizerPath, configPath, textsPath, outPath] = process.argv.slice(2);
const tokenizerJson = JSON.parse(fs.readFileSync(tokenizerPath, "utf8"));
const config = configPath === "-" ? {} : JSON.parse(fs.readFileSync(configPath, "utf8"));
const tokenizer = new Tokenizer(tokenizerJson, config);
const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
fs.writeFileSync(outPath, JSON.stringify({
    ids: texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false }).ids, Number)),
}));
