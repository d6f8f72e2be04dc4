/* modl convert SRC: a Hugging Face checkpoint to a (quantized) GGUF in one pass. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "convert/convert.h"
#include "util/error.h"
#include "output.h"
#include "quant/quant.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl convert SRC [-o OUT.gguf] [--type TYPE] [--threads N] [--name NAME]\n"
	"                        [--pre NAME] [--json]\n"
	"\n"
	"Convert a Hugging Face LLaMA-family checkpoint (LlamaForCausalLM, MistralForCausalLM,\n"
	"Qwen2ForCausalLM: config.json, *.safetensors, tokenizer.model or tokenizer.json) to a\n"
	"GGUF file that llama.cpp loads, quantized in the same pass: tensors go from the\n"
	"safetensors through the quantizer to the output, with no intermediate file. SRC is a\n"
	"directory, or REPO[@REV] already in the Hugging Face cache (see modl pull).\n"
	"\n"
	"  -o, --output OUT  the file to write, or a directory for the default name\n"
	"                    (default: ./<Name>-<SizeLabel>-<TYPE>.gguf)\n"
	"  --type TYPE       F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L\n"
	"                    Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K, with llama-quantize's per-tensor\n"
	"                    mixtures (default: the checkpoint's own float type: BF16, F16 or F32)\n"
	"  -t, --threads N   worker threads (default: MODL_THREADS, else every core)\n"
	"  --name NAME       general.name (default: from the model card, config or folder)\n"
	"  --pre NAME        tokenizer.ggml.pre for a byte-level BPE tokenizer whose\n"
	"                    pre-tokenizer is not in modl's table (see modl-convert(1))\n"
	"  --json            print a JSON summary\n";

static cJSON *result_to_json(const struct convert_result *r)
{
	cJSON *doc = cJSON_CreateObject(), *types, *tok;
	cJSON_AddStringToObject(doc, "source", r->source_dir);
	cJSON_AddStringToObject(doc, "output", r->output);
	cJSON_AddStringToObject(doc, "architecture", r->architecture);
	cJSON_AddStringToObject(doc, "hf_architecture", r->hf_architecture);
	cJSON_AddStringToObject(doc, "name", r->name);
	if (r->size_label)
		cJSON_AddStringToObject(doc, "size_label", r->size_label);
	else
		cJSON_AddNullToObject(doc, "size_label");
	cJSON_AddStringToObject(doc, "type", r->type_name);
	cJSON_AddNumberToObject(doc, "file_type", r->ftype);
	cJSON_AddStringToObject(doc, "source_dtype", r->source_dtype);
	tok = cJSON_AddObjectToObject(doc, "tokenizer");
	cJSON_AddStringToObject(tok, "model", r->tokenizer_model);
	cJSON_AddStringToObject(tok, "pre", r->tokenizer_pre);
	cJSON_AddNumberToObject(tok, "tokens", r->n_vocab);
	cJSON_AddNumberToObject(doc, "tensors", (double)r->tensors);
	cJSON_AddNumberToObject(doc, "parameters", (double)r->parameters);
	types = cJSON_AddObjectToObject(doc, "tensor_types");
	for (uint32_t t = 0; t < GGUF_TENSOR_COUNT; t++)
		if (r->count_by_type[t])
			cJSON_AddNumberToObject(types, quant_type_name(t), (double)r->count_by_type[t]);
	cJSON_AddNumberToObject(doc, "fallbacks", r->fallbacks);
	cJSON_AddNumberToObject(doc, "bytes_read", (double)r->bytes_in);
	cJSON_AddNumberToObject(doc, "bytes_written", (double)r->bytes_out);
	cJSON_AddNumberToObject(doc, "file_size", (double)r->file_out);
	cJSON_AddNumberToObject(doc, "threads", r->threads);
	cJSON_AddNumberToObject(doc, "seconds", r->seconds);
	return doc;
}

static void print_summary(const struct convert_result *r)
{
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, mix = STRBUF_INIT;
	strbuf_add_size(&in, r->bytes_in);
	strbuf_add_size(&out, r->file_out);
	for (uint32_t t = 0; t < GGUF_TENSOR_COUNT; t++)
		if (r->count_by_type[t])
			strbuf_addf(&mix, "%s%llu %s", mix.len ? ", " : "",
				    (unsigned long long)r->count_by_type[t], quant_type_name(t));
	printf("%s (%s, %s parameters, %s): %llu tensors (%s), tokenizer %s/%s with %u tokens\n", r->name,
	       r->hf_architecture, r->size_label ? r->size_label : "?", r->source_dtype,
	       (unsigned long long)r->tensors, mix.buf, r->tokenizer_model, r->tokenizer_pre, r->n_vocab);
	printf("%s read, %s written as %s in %.1f s on %u thread%s\n", in.buf, out.buf, r->type_name,
	       r->seconds, r->threads, r->threads == 1 ? "" : "s");
	strbuf_free(&in);
	strbuf_free(&out);
	strbuf_free(&mix);
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *output = NULL, *type = NULL, *name = NULL, *pre = NULL;
	long threads = 0;
	/* clang-format off */
	const struct args_option options[] = {
		{ "output", 'o', ARGS_STRING, &output, 0, 0 },
		{ "type", 0, ARGS_STRING, &type, 0, 0 },
		{ "threads", 't', ARGS_INT, &threads, 1, 1024 },
		{ "name", 0, ARGS_STRING, &name, 0, 0 },
		{ "pre", 0, ARGS_STRING, &pre, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct convert_options o = { 0 };
	struct convert_result r = { 0 };
	struct progress *progress = NULL;
	int n, rc = args_parse("convert", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 1)
		return modl_error_set(MODL_EUSAGE, "convert: expected one SRC (see 'modl help convert')");
	if ((output && !*output) || (name && !*name) || (pre && !*pre))
		return modl_error_set(MODL_EUSAGE, "convert: an option was given an empty value");
	if (progress_new(&progress, progress_choose(ctx->quiet, ctx->json, ctx->settings.no_progress),
			 "converted"))
		return modl_error_oom();
	o.source = argv[0];
	o.output = output;
	o.type = type;
	o.name = name;
	o.pre = pre;
	o.threads = (unsigned)threads;
	o.settings = &ctx->settings;
	o.progress = progress;
	rc = convert_run(&o, &r);
	progress_free(progress);
	if (rc)
		return rc;
	if (ctx->json) {
		rc = output_json(result_to_json(&r));
	} else {
		if (!ctx->quiet)
			print_summary(&r);
		printf("%s\n", r.output);
		if (fflush(stdout))
			rc = modl_error_set(MODL_EFAIL, "cannot write to standard output");
	}
	convert_result_free(&r);
	return rc;
}

const struct modl_command cmd_convert = { "convert",
					  "convert a Hugging Face checkpoint to a (quantized) GGUF", usage,
					  run };
