/* modl convert: the story of one run (convert_run).
 *
 *   1. SRC to a directory (a cached repo's snapshot), config.json read and checked, the
 *      architecture known (llama.c);
 *   2. the safetensors mapped (one file, a directory of shards, or an index whose every
 *      shard must be there) and every tensor mapped to its GGUF name with its shape
 *      checked against the config, in llama.cpp's order (llama.c);
 *   3. every tensor's output type chosen before a byte is written: the float types keep
 *      1-D tensors in F32; the quantized ones take `modl quantize`'s mixture
 *      (src/quant/mix.h), fed as if the checkpoint's own float type were the input;
 *   4. the tokenizer (vocab.c) and the names (naming.c) read;
 *   5. the header written: general.*, <arch>.*, tokenizer.*, then
 *      general.quantization_version and general.file_type last, where llama.cpp's
 *      quantizer puts them, so that a one-pass file and a two-step one are alike;
 *   6. the tensors streamed (below) into a temporary file next to the output, which is
 *      fsynced and renamed; any failure or signal removes it.
 *
 * Streaming one tensor (src/convert/tensor_stream.h): chunks of rows on the worker pool, each row
 * converted from the mapped BF16/F16/F32 data to F32 (Q and K rows taken in un-permuted
 * order), checked finite, quantized and checked as ggml_validate_row_data does, and the
 * chunks written in file order; the mapped input is released as it is consumed. */
#include "convert_internal.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/error.h"
#include "util/pool.h"
#include "quant/mix.h"
#include "quant/quant.h"
#include "util/strbuf.h"
#include "tensor_stream.h"

struct run {
	const struct convert_options *o;
	struct convert_result *r;
	char *dir, *repo_id;
	struct convert_model model;
	struct safetensors *st;
	struct convert_plan plan;
	struct convert_vocab vocab;
	struct convert_naming naming;
	uint32_t ftype;
	char *out_path;
	struct tensor_stream out;
	struct fmt_error err;
	int have_model, have_vocab, have_naming;
};

static int open_checkpoint(struct run *run);
static int choose_types(struct run *run);
static int choose_output(struct run *run);
static int open_output(struct run *run);
static int write_header(struct run *run);
static int write_tensors(struct run *run);

static int fill_result(struct run *run)
{
	struct convert_result *r = run->r;
	r->ftype = run->ftype;
	r->type_name = quant_ftype_name(run->ftype);
	r->source_dtype = run->plan.float_type == QUANT_BF16  ? "BF16"
			  : run->plan.float_type == QUANT_F16 ? "F16"
							      : "F32";
	r->threads = run->out.threads;
	r->n_vocab = run->model.n_vocab;
	r->parameters = run->plan.parameters;
	snprintf(r->tokenizer_model, sizeof(r->tokenizer_model), "%s", run->vocab.model);
	snprintf(r->tokenizer_pre, sizeof(r->tokenizer_pre), "%s", run->vocab.pre);
	if (!(r->source_dir = strdup(run->dir)) || !(r->architecture = strdup(run->model.arch->gguf_name)) ||
	    !(r->hf_architecture = strdup(run->model.arch->hf_name)) ||
	    !(r->name = strdup(run->naming.name)) ||
	    (run->naming.size_label && !(r->size_label = strdup(run->naming.size_label))) ||
	    !(r->output = strdup(run->out_path)))
		return modl_error_oom();
	return 0;
}

int convert_run(const struct convert_options *o, struct convert_result *result)
{
	struct run run = { .o = o, .r = result };
	double started = clock_seconds();
	int rc;
	memset(result, 0, sizeof(*result));
	tensor_stream_init(&run.out, NULL, o->threads ? o->threads : pool_default_threads(), o->progress);
	/* A bad TYPE or --pre is a usage error: say so before reading gigabytes. */
	if (o->type && (rc = quant_ftype_from_name(o->type, &run.ftype)))
		return modl_error_set(MODL_EUSAGE,
				      "convert: unknown type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 "
				      "Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K)",
				      o->type);
	if (o->pre && !convert_pre_is_known(o->pre))
		return modl_error_set(MODL_EUSAGE,
				      "convert: --pre '%s' is not a pre-tokenizer llama.cpp knows (%s)",
				      o->pre, convert_pre_names());
	if ((rc = convert_resolve_source(o, &run.dir, &run.repo_id)))
		goto out;
	if ((rc = convert_model_load(&run.model, run.dir)))
		goto out;
	run.have_model = 1;
	if ((rc = open_checkpoint(&run)) || (rc = convert_plan_build(&run.plan, &run.model, run.st, run.dir)))
		goto out;
	if (!o->type)
		run.ftype = run.plan.float_type == QUANT_BF16  ? QUANT_FTYPE_BF16
			    : run.plan.float_type == QUANT_F16 ? QUANT_FTYPE_F16
							       : QUANT_FTYPE_ALL_F32;
	if ((rc = choose_types(&run)))
		goto out;
	if ((rc = convert_vocab_load(&run.vocab, &run.model, run.dir, o->pre)))
		goto out;
	run.have_vocab = 1;
	if ((rc = convert_naming_load(&run.naming, run.dir, run.repo_id, run.model.config_json, o->name,
				      run.plan.parameters)))
		goto out;
	run.have_naming = 1;
	if ((rc = choose_output(&run)) || (rc = fill_result(&run)) || (rc = open_output(&run)))
		goto out;
	if ((rc = write_header(&run)) || (rc = write_tensors(&run)) ||
	    (rc = tensor_stream_close(&run.out, &result->file_out)))
		goto out;
	result->seconds = clock_seconds() - started;
out:
	tensor_stream_end(&run.out, rc);
	if (run.have_naming)
		convert_naming_free(&run.naming);
	if (run.have_vocab)
		convert_vocab_free(&run.vocab);
	convert_plan_free(&run.plan);
	if (run.st)
		safetensors_close(run.st);
	if (run.have_model)
		convert_model_free(&run.model);
	free(run.dir);
	free(run.repo_id);
	free(run.out_path);
	if (rc)
		convert_result_free(result);
	return rc;
}

void convert_result_free(struct convert_result *r)
{
	free(r->source_dir);
	free(r->output);
	free(r->architecture);
	free(r->hf_architecture);
	free(r->name);
	free(r->size_label);
	memset(r, 0, sizeof(*r));
}

/* ---- the checkpoint and the types ------------------------------------------------------- */

static int open_checkpoint(struct run *run)
{
	int rc = safetensors_open(&run->st, run->dir, &run->err);
	if (!rc)
		return 0;
	run->st = NULL;
	return convert_fmt_failure(rc, run->dir, run->err.message);
}

static uint32_t float_target(uint32_t ftype)
{
	return ftype == QUANT_FTYPE_F16 ? QUANT_F16 : ftype == QUANT_FTYPE_BF16 ? QUANT_BF16 : QUANT_F32;
}

static int choose_types(struct run *run)
{
	struct convert_plan *plan = &run->plan;
	int quantized = run->ftype != QUANT_FTYPE_ALL_F32 && run->ftype != QUANT_FTYPE_F16 &&
			run->ftype != QUANT_FTYPE_BF16;
	struct quant_mix *mix = NULL;
	int rc = 0;
	if (quantized) {
		struct quant_mix_model mm = {
			.n_layer = run->model.n_layer,
			.n_head = run->model.n_head,
			.n_head_kv = run->model.n_head_kv,
			.tied_embeddings = convert_plan_tied(plan),
			.arch = run->model.arch->gguf_name,
		};
		for (size_t i = 0; i < plan->count; i++)
			mm.n_attention_wv += (uint32_t)quant_mix_is_attention_v(plan->tensors[i].name);
		if ((rc = quant_mix_begin(&mix, run->ftype, &mm)))
			return rc;
	}
	/* The two-step path's intermediate file holds 2-D weights in the checkpoint's float
	 * type (convert --type BF16/F16) and everything else in F32. */
	uint32_t intermediate = plan->float_type == QUANT_F32 ? QUANT_F16 : plan->float_type;
	for (size_t i = 0; i < plan->count && !rc; i++) {
		struct convert_tensor *t = &plan->tensors[i];
		int weight = t->source >= 0 && quant_mix_allows_quantization(t->name, t->n_dims, t->ne);
		if (!weight)
			t->type = QUANT_F32;
		else if (!quantized)
			t->type = float_target(run->ftype);
		else
			rc = quant_mix_select(mix, t->name, t->n_dims, t->ne, intermediate, &t->type);
		if (!rc && gguf_tensor_nbytes(t->type, t->n_dims, t->ne, &t->size_out))
			rc = modl_error_set(MODL_EINVALID, "tensor %s: its size overflows", t->name);
		if (!rc && !quant_type_known(t->type))
			rc = modl_error_set(MODL_EFAIL, "tensor %s: no quantizer for type %u", t->name,
					    t->type);
	}
	if (mix) {
		run->r->fallbacks = quant_mix_fallbacks(mix);
		quant_mix_end(mix);
	}
	return rc;
}

/* ---- the output file -------------------------------------------------------------------- */

static int choose_output(struct run *run)
{
	struct stat st;
	char *name = NULL;
	int rc;
	if (run->o->output && !(stat(run->o->output, &st) == 0 && S_ISDIR(st.st_mode)))
		return (run->out_path = strdup(run->o->output)) ? 0 : modl_error_oom();
	if ((rc = convert_default_name(&run->naming, quant_ftype_name(run->ftype), &name)))
		return rc;
	if (!run->o->output) {
		run->out_path = name;
		return 0;
	}
	struct strbuf sb = STRBUF_INIT;
	rc = strbuf_addf(&sb, "%s/%s", run->o->output, name);
	free(name);
	if (!rc)
		run->out_path = strbuf_take(&sb);
	strbuf_free(&sb);
	return rc;
}

static int open_output(struct run *run)
{
	int rc;
	run->out.out_path = run->out_path;
	run->out.source = run->dir;
	if ((rc = tensor_stream_open(&run->out)))
		return rc;
	if ((rc = gguf_writer_begin(&run->out.writer, run->out.fd, &run->out.err)))
		return tensor_stream_failure(&run->out, rc);
	return 0;
}

static int write_header(struct run *run)
{
	struct gguf_writer *w = run->out.writer;
	int rc;
	if ((rc = gguf_writer_add_string(w, "general.architecture", run->model.arch->gguf_name)) ||
	    (rc = gguf_writer_add_string(w, "general.type", "model")) ||
	    (rc = convert_naming_write_keys(&run->naming, w)) ||
	    (rc = convert_model_write_keys(&run->model, w)) ||
	    (rc = convert_vocab_write_keys(&run->vocab, w)) ||
	    (rc = gguf_writer_add_u32(w, "general.quantization_version", 2)) ||
	    (rc = gguf_writer_add_u32(w, "general.file_type", run->ftype)))
		return tensor_stream_failure(&run->out, rc);
	for (size_t i = 0; i < run->plan.count; i++) {
		const struct convert_tensor *t = &run->plan.tensors[i];
		if ((rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne)))
			return tensor_stream_failure(&run->out, rc);
	}
	return 0;
}

/* ---- streaming the tensors ---------------------------------------------------------------- */

struct tensor_job {
	const struct run *run;
	const struct convert_tensor *t;
	long source;              /* safetensors index, -1: generated */
	const unsigned char *src; /* the mapped data (NULL: generated) */
	size_t src_row;           /* bytes of a source row */
	uint32_t src_type;        /* QUANT_F32, F16 or BF16 */
	uint32_t dst_type;
	size_t dst_row;
	int64_t n_per_row, nrows;
	int raw;        /* the bytes are the output's already (same type) */
	uint32_t heads; /* un-permute rows in this many heads */
};

/* doc/gguf.md §3: HF stores each head's rows as (first halves, second halves) for
 * rotate_half; llama.cpp's LLAMA rope pairs adjacent rows, as Meta's checkpoints did.
 * Output row r of a head of hd rows is source row j*(hd/2) + i for r = 2i + j. */
static int64_t source_row(const struct tensor_job *j, int64_t r, int64_t rows)
{
	if (!j->heads)
		return r;
	int64_t hd = rows / j->heads, h = r / hd, k = r % hd;
	return h * hd + (k % 2) * (hd / 2) + k / 2;
}

/* One row of the output in F32: from the checkpoint (a 1-D tensor with heads is
 * un-permuted element by element; dequant_row takes the mapped bytes at any alignment),
 * or from the generated values. */
static void load_row(const struct tensor_job *j, int64_t r, float *row, float *scratch)
{
	if (j->source < 0) {
		memcpy(row, j->t->data + r * j->n_per_row, (size_t)j->n_per_row * sizeof(float));
		return;
	}
	int vector = j->heads && j->nrows == 1;
	float *dst = vector ? scratch : row;
	int64_t src = vector ? r : source_row(j, r, j->nrows);
	dequant_row(j->src_type, j->src + (size_t)src * j->src_row, dst, j->n_per_row);
	if (vector)
		for (int64_t e = 0; e < j->n_per_row; e++)
			row[e] = scratch[source_row(j, e, j->n_per_row)];
}

static int chunk_run(void *ctx, int64_t first, int64_t last, struct tensor_slot *s, float *row)
{
	const struct tensor_job *j = ctx;
	float *scratch = row + j->n_per_row;
	const char *name =
		j->source >= 0 ? safetensors_tensor(j->run->st, (size_t)j->source)->name : j->t->name;
	if (j->raw && !j->heads) {
		/* Same type in and out, rows in order: the mapped bytes go out as they are. */
		s->data = j->src + (size_t)first * j->src_row;
		s->len = (size_t)(last - first) * j->src_row;
		for (int64_t r = first; r < last; r++)
			if (quant_validate_row(j->dst_type, j->src + (size_t)r * j->src_row, j->n_per_row))
				return modl_error_set(MODL_EINVALID,
						      "%s: tensor %s has a NaN or infinite value in row %lld",
						      j->run->dir, name, (long long)r);
		return 0;
	}
	unsigned char *out = s->buf;
	for (int64_t r = first; r < last; r++, out += j->dst_row) {
		if (j->raw) { /* same type, rows un-permuted */
			const unsigned char *in = j->src + (size_t)source_row(j, r, j->nrows) * j->src_row;
			memcpy(out, in, j->dst_row);
			if (quant_validate_row(j->dst_type, out, j->n_per_row))
				return modl_error_set(MODL_EINVALID,
						      "%s: tensor %s has a NaN or infinite value in row %lld",
						      j->run->dir, name,
						      (long long)source_row(j, r, j->nrows));
			continue;
		}
		load_row(j, r, row, scratch);
		int64_t bad = tensor_first_nonfinite(row, j->n_per_row);
		if (bad >= 0)
			return modl_error_set(
				MODL_EINVALID,
				"%s: tensor %s has a NaN or infinite value (row %lld, column %lld)",
				j->run->dir, name, (long long)source_row(j, r, j->nrows), (long long)bad);
		if (j->dst_type == QUANT_F32)
			memcpy(out, row, j->dst_row);
		else
			quant_row(j->dst_type, row, out, j->n_per_row);
		if (quant_validate_row(j->dst_type, out, j->n_per_row))
			return modl_error_set(MODL_EINVALID,
					      "%s: tensor %s does not fit in %s (row %lld): %s%s",
					      j->run->dir, name, quant_type_name(j->dst_type), (long long)r,
					      modl_error_message(),
					      j->dst_type == QUANT_F16 ? "; use --type BF16 or F32" : "");
	}
	s->data = s->buf;
	s->len = (size_t)(last - first) * j->dst_row;
	return 0;
}

static int write_tensor(struct run *run, const struct convert_tensor *t)
{
	struct tensor_job j = {
		.run = run,
		.t = t,
		.source = t->source,
		.dst_type = t->type,
		.n_per_row = (int64_t)t->ne[0],
		.nrows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]),
		.heads = t->permute_heads,
	};
	j.dst_row = quant_row_size(t->type, j.n_per_row);
	if (t->source >= 0) {
		const struct safetensors_tensor *s = safetensors_tensor(run->st, (size_t)t->source);
		j.src_type = s->dtype == SAFETENSORS_BF16  ? QUANT_BF16
			     : s->dtype == SAFETENSORS_F16 ? QUANT_F16
							   : QUANT_F32;
		j.src = safetensors_tensor_data(run->st, (size_t)t->source);
		j.src_row = (size_t)j.n_per_row * (safetensors_dtype_bits(s->dtype) / 8);
		/* 1-D tensors with heads (Q/K biases) are permuted element by element */
		j.raw = j.src_type == t->type && !(j.heads && j.nrows == 1);
	}
	struct tensor_chunks c = {
		.name = t->name,
		.size_out = t->size_out,
		.src = j.src,
		.src_row = j.src_row,
		.dst_row = j.dst_row,
		.n_per_row = j.n_per_row,
		.nrows = j.nrows,
		.buffered = !(j.raw && !j.heads),
		.scratch_floats = (size_t)j.n_per_row * 2 + 1,
		/* permuted tensors are read out of order: their pages go once the tensor is done */
		.release = !j.src    ? TENSOR_RELEASE_NONE
			   : j.heads ? TENSOR_RELEASE_AT_END
				     : TENSOR_RELEASE_CHUNKS,
		.chunk = chunk_run,
		.ctx = &j,
	};
	int rc = tensor_stream_write(&run->out, &c);
	if (rc)
		return rc;
	struct convert_result *r = run->r;
	r->tensors++;
	r->bytes_in += (uint64_t)j.nrows * j.src_row;
	r->bytes_out += t->size_out;
	if (t->type < GGUF_TENSOR_COUNT)
		r->count_by_type[t->type]++;
	return 0;
}

static int write_tensors(struct run *run)
{
	unsigned long long total = 0;
	int rc = 0;
	for (size_t i = 0; i < run->plan.count; i++) {
		const struct convert_tensor *t = &run->plan.tensors[i];
		if (t->source >= 0) {
			const struct safetensors_tensor *s = safetensors_tensor(run->st, (size_t)t->source);
			total += s->end - s->begin;
		}
	}
	if (run->o->progress)
		progress_set_total(run->o->progress, total, (unsigned)run->plan.count);
	for (size_t i = 0; i < run->plan.count && !rc; i++)
		rc = write_tensor(run, &run->plan.tensors[i]);
	if (run->o->progress)
		progress_finish(run->o->progress);
	return rc;
}
