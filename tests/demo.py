#!/usr/bin/python3
"""`make demo`: start the local test hub with the bundled tiny model and run the main
job as far as modl does it today, showing what a user sees."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "e2e"))
from hubfixture import Hub, make_repo  # noqa: E402

REPO = "karpathy/stories260K"
LLAMA_NPM = os.path.join(HERE, "interop", "llama")


def ensure_llama_cpp():
    """node-llama-cpp (llama.cpp prebuilt), pinned in tests/interop/llama."""
    if os.path.isdir(os.path.join(LLAMA_NPM, "node_modules", "node-llama-cpp")):
        return True
    print("installing node-llama-cpp (llama.cpp prebuilt) from npm ...", flush=True)
    return subprocess.call(["npm", "install", "--no-audit", "--no-fund", "--omit=optional"],
                           cwd=LLAMA_NPM, stdout=subprocess.DEVNULL) == 0


def main():
    modl = os.path.join(ROOT, "modl")
    tmp = tempfile.mkdtemp(prefix="modl-demo-")
    try:
        src = os.path.join(ROOT, "tests", "data", "stories260K")
        files = {}
        for name in sorted(os.listdir(src)):
            with open(os.path.join(src, name), "rb") as f:
                files[name] = f.read()
        make_repo(os.path.join(tmp, "hub"), "models", REPO, files)
        # the base model its card names, so that the license chain can be followed
        make_repo(os.path.join(tmp, "hub"), "models", "karpathy/tinyllamas",
                  {"README.md": "---\nlicense: mit\n---\n# tinyllamas\n", "LICENSE": files["LICENSE"]})
        with Hub(os.path.join(tmp, "hub")) as hub:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
            env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=os.path.join(tmp, "hf"))
            print("local hub: %s (files from the CDN host %s)\n" % (hub.endpoint, hub.cdn))
            gguf = os.path.join(tmp, "stories260K-Q4_K_M.gguf")
            for args in (["info", REPO], ["ls", REPO], ["pull", REPO], ["verify", REPO],
                         ["license", REPO, "--remote"], ["convert", REPO, "--type", "Q4_K_M", "-o", gguf]):
                print("$ modl " + " ".join(args), flush=True)
                rc = subprocess.call([modl] + args, env=env)
                print(flush=True)
                if rc != 0:
                    print("demo: 'modl %s' exited %d" % (" ".join(args), rc), file=sys.stderr)
                    return 1
        if not ensure_llama_cpp():
            print("demo: npm install of node-llama-cpp failed", file=sys.stderr)
            return 1
        print("$ node tests/demo_generate.mjs stories260K-Q4_K_M.gguf", flush=True)
        rc = subprocess.call(["node", os.path.join(HERE, "demo_generate.mjs"), gguf])
        if rc != 0:
            print("demo: llama.cpp could not run the converted model", file=sys.stderr)
            return 1
        print("\n(The tokenizer is a stand-in for stories260K's own, which is not available\n"
              "offline: the words are not meaningful, the pipeline is. See tests/data/SOURCE.md.)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
