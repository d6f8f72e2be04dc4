/* llama.cpp's quantizer as a command, for tests/interop/test_quantize_llama.py and
 * bench/quantize.py:
 *
 *   quantize_llama BINS_DIR IN.gguf OUT.gguf FTYPE NTHREAD [--allow-requantize]
 *
 * FTYPE is the llama_ftype number (doc/gguf.md §5.5). Calls llama_model_quantize with the
 * default parameters otherwise (no importance matrix, output tensor quantized), exactly
 * what `llama-quantize IN OUT TYPE NTHREAD` does. Built at test time against the
 * headers of the llama.cpp tree node-llama-cpp bundles (gitRelease.bundle, cloned into
 * a temporary directory) and linked with its prebuilt libllama and libggml, whose CPU
 * backends must be loaded from BINS_DIR first. Prints llama.cpp's warnings and errors
 * (set QUANTIZE_LLAMA_VERBOSE=1 for its per-tensor log too); exit status 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

static void on_log(enum ggml_log_level level, const char *text, void *user)
{
	int verbose = *(const int *)user;
	if (verbose || level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

int main(int argc, char **argv)
{
	static int verbose;
	if (argc < 6) {
		fprintf(stderr, "usage: quantize_llama BINS_DIR IN OUT FTYPE NTHREAD [--allow-requantize]\n");
		return 2;
	}
	const char *v = getenv("QUANTIZE_LLAMA_VERBOSE");
	verbose = v && *v && strcmp(v, "0");
	llama_log_set(on_log, &verbose);
	ggml_backend_load_all_from_path(argv[1]);
	llama_backend_init();
	llama_model_quantize_params params = llama_model_quantize_default_params();
	params.ftype = (enum llama_ftype)atoi(argv[4]);
	params.nthread = atoi(argv[5]);
	params.allow_requantize = argc > 6 && !strcmp(argv[6], "--allow-requantize");
	uint32_t rc = llama_model_quantize(argv[2], argv[3], &params);
	llama_backend_free();
	return rc ? 1 : 0;
}
