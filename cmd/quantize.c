/* modl quantize IN.gguf OUT.gguf TYPE: llama-quantize's mixtures and bytes. */
#include <stdio.h>

#include "args.h"
#include "util/error.h"
#include "output.h"
#include "util/progress.h"
#include "quant/mix.h"
#include "quant/quant.h"
#include "convert/quantize.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl quantize IN.gguf OUT.gguf TYPE [--threads N] [--allow-requantize]\n"
	"\n"
	"Write a quantized copy of a GGUF model with the per-tensor types and the bytes of\n"
	"llama.cpp's llama-quantize (no importance matrix). TYPE (any case):\n"
	"  F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L\n"
	"  Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K\n"
	"Norms and other 1-D tensors keep their type; output.weight (or a tied token_embd)\n"
	"gets Q6_K; attn_v and ffn_down get more bits in the _M and _L mixtures; rows that a\n"
	"type's block does not divide fall back to Q4_0/Q5_0/Q5_1/Q8_0, then F16.\n"
	"The tensors stream through memory; OUT appears only when complete.\n"
	"\n"
	"  --threads N          worker threads (default: MODL_THREADS, else every core);\n"
	"                       the output bytes do not depend on it\n"
	"  --allow-requantize   accept tensors that are already quantized as input\n"
	"  --json               print the summary as one JSON document\n";

static double bpw(unsigned long long bytes, unsigned long long elements)
{
	return elements ? (double)bytes * 8.0 / (double)elements : 0.0;
}

static cJSON *result_json(const char *in, const char *out, const struct quantize_result *r)
{
	cJSON *doc = cJSON_CreateObject(), *types = cJSON_CreateObject();
	if (!doc || !types) {
		cJSON_Delete(doc);
		cJSON_Delete(types);
		return NULL;
	}
	cJSON_AddStringToObject(doc, "input", in);
	cJSON_AddStringToObject(doc, "output", out);
	cJSON_AddStringToObject(doc, "type", quant_ftype_name(r->ftype));
	cJSON_AddNumberToObject(doc, "file_type", r->ftype);
	cJSON_AddNumberToObject(doc, "tensors", (double)r->tensors);
	cJSON_AddNumberToObject(doc, "converted", (double)r->converted);
	cJSON_AddNumberToObject(doc, "copied", (double)r->copied);
	cJSON_AddNumberToObject(doc, "fallbacks", r->fallbacks);
	cJSON_AddNumberToObject(doc, "elements", (double)r->elements);
	cJSON_AddNumberToObject(doc, "size_before", (double)r->bytes_in);
	cJSON_AddNumberToObject(doc, "size_after", (double)r->bytes_out);
	cJSON_AddNumberToObject(doc, "file_size_before", (double)r->file_in);
	cJSON_AddNumberToObject(doc, "file_size_after", (double)r->file_out);
	cJSON_AddNumberToObject(doc, "bpw_before", bpw(r->bytes_in, r->elements));
	cJSON_AddNumberToObject(doc, "bpw_after", bpw(r->bytes_out, r->elements));
	cJSON_AddNumberToObject(doc, "threads", r->threads);
	cJSON_AddNumberToObject(doc, "seconds", r->seconds);
	for (uint32_t t = 0; t < GGUF_TENSOR_COUNT; t++)
		if (r->count_by_type[t])
			cJSON_AddNumberToObject(types, gguf_tensor_type_name(t), (double)r->count_by_type[t]);
	cJSON_AddItemToObject(doc, "tensor_types", types);
	return doc;
}

static void print_summary(const char *in, const char *out, const struct quantize_result *r)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	strbuf_add_size(&a, r->bytes_in);
	strbuf_add_size(&b, r->bytes_out);
	printf("%s: %s, %.2f bits per weight\n", in, a.buf, bpw(r->bytes_in, r->elements));
	printf("%s: %s, %.2f bits per weight (%s)\n", out, b.buf, bpw(r->bytes_out, r->elements),
	       quant_ftype_name(r->ftype));
	printf("%llu tensors:", (unsigned long long)r->tensors);
	const char *sep = " ";
	for (uint32_t t = 0; t < GGUF_TENSOR_COUNT; t++)
		if (r->count_by_type[t]) {
			printf("%s%llu %s", sep, (unsigned long long)r->count_by_type[t],
			       gguf_tensor_type_name(t));
			sep = ", ";
		}
	if (r->fallbacks)
		printf(" (%u fallback%s for rows the block size does not divide)", r->fallbacks,
		       r->fallbacks == 1 ? "" : "s");
	printf("; %.1f s on %u thread%s\n", r->seconds, r->threads, r->threads == 1 ? "" : "s");
	strbuf_free(&a);
	strbuf_free(&b);
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	long threads = 0;
	int allow_requantize = 0, n, rc;
	/* clang-format off */
	const struct args_option options[] = {
		{ "threads", 't', ARGS_INT, &threads, 1, 1024 },
		{ "allow-requantize", 0, ARGS_FLAG, &allow_requantize, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct quantize_options o = { 0 };
	struct quantize_result r;
	struct progress *progress = NULL;
	if ((rc = args_parse("quantize", options, argc, argv, &n)))
		return rc;
	if (n != 3)
		return modl_error_set(MODL_EUSAGE,
				      "quantize: expected IN.gguf OUT.gguf TYPE (see 'modl help quantize')");
	if ((rc = quant_ftype_from_name(argv[2], &o.ftype))) {
		modl_error_prefix("quantize");
		return rc;
	}
	if (progress_new(&progress, progress_choose(ctx->quiet, ctx->json, ctx->settings.no_progress),
			 "wrote"))
		return modl_error_oom();
	o.threads = (unsigned)threads;
	o.allow_requantize = allow_requantize;
	o.progress = progress;
	rc = quantize_file(argv[0], argv[1], &o, &r);
	progress_finish(progress);
	if (!rc && ctx->json)
		rc = output_json(result_json(argv[0], argv[1], &r));
	else if (!rc && !ctx->quiet)
		print_summary(argv[0], argv[1], &r);
	progress_free(progress);
	if (!rc && fflush(stdout))
		rc = modl_error_set(MODL_EFAIL, "cannot write to standard output");
	return rc;
}

const struct modl_command cmd_quantize = { "quantize", "quantize a GGUF model (llama.cpp's types)", usage,
					   run };
