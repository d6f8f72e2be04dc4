// `make demo`, last step: load a GGUF that modl wrote in llama.cpp (node-llama-cpp,
// CPU only) and generate a few tokens greedily from a prompt, printing the text.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "interop", "llama", "package.json"));
const { getLlama, LlamaCompletion } = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);

const [path, prompt = "Once upon a time"] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error", maxThreads: 1 });
const model = await llama.loadModel({ modelPath: path });
const context = await model.createContext({ contextSize: 256, threads: 1 });
const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
const text = await completion.generateCompletion(prompt, { maxTokens: 24, temperature: 0 });
console.log(`llama.cpp loaded ${path} and generated, from "${prompt}":`);
console.log(JSON.stringify(prompt + text));
await llama.dispose();
