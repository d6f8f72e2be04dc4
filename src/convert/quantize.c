/* modl quantize: GGUF in, GGUF out, llama-quantize's output byte for byte.
 *
 * The story of one run (quantize_file):
 *   1. map and validate the input (formats/gguf.c);
 *   2. learn what the type rules need (layers, heads, experts, tied output) and sort the
 *      tensors in llama.cpp's order (block number, then name; non-block tensors first),
 *      which is also the order of the output file;
 *   3. choose every tensor's type up front (src/quant/mix.c) and refuse what cannot be
 *      done before a byte is written (already-quantized input, unknown types);
 *   4. write the header: the input's metadata in its order without general.file_type
 *      and general.quantization_version, then those two, as llama.cpp's gguf_set_val
 *      does (it removes a key and appends it);
 *   5. stream each tensor (src/convert/tensor_stream.h: chunks of rows converted to F32, checked
 *      finite, quantized and checked as ggml_validate_row_data would on the worker pool,
 *      written in file order) into a temporary file next to the output, then fsync and
 *      rename it. */
#include "quantize.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/pool.h"
#include "quant/mix.h"
#include "quant/quant.h"
#include "tensor_stream.h"

struct plan {
	size_t index; /* in the input */
	const char *name;
	uint32_t type;   /* chosen */
	uint32_t n_dims; /* as ggml_n_dims: trailing 1s dropped, as llama.cpp writes */
	uint64_t size_out;
};

struct run {
	const char *in_path, *out_path;
	const struct quantize_options *o;
	struct quantize_result *r;
	struct gguf_reader *reader;
	struct fmt_error err;
	struct plan *plan;
	size_t n;
	struct tensor_stream out;
};

static int read_input(struct run *run);
static int make_plan(struct run *run);
static int open_output(struct run *run);
static int write_header(struct run *run);
static int write_tensors(struct run *run);

int quantize_file(const char *in_path, const char *out_path, const struct quantize_options *o,
		  struct quantize_result *result)
{
	struct run run = { .in_path = in_path, .out_path = out_path, .o = o, .r = result };
	double started = clock_seconds();
	int rc;
	memset(result, 0, sizeof(*result));
	result->ftype = o->ftype;
	if (!quant_ftype_name(o->ftype))
		return modl_error_set(MODL_EUSAGE, "file type %u is not supported", o->ftype);
	tensor_stream_init(&run.out, out_path, o->threads ? o->threads : pool_default_threads(), o->progress);
	run.out.source = in_path;
	result->threads = run.out.threads;

	if ((rc = read_input(&run)) || (rc = make_plan(&run)) || (rc = open_output(&run)))
		goto out;
	if ((rc = write_header(&run)) || (rc = write_tensors(&run)) ||
	    (rc = tensor_stream_close(&run.out, &result->file_out)))
		goto out;
	result->seconds = clock_seconds() - started;
out:
	tensor_stream_end(&run.out, rc);
	gguf_read_close(run.reader);
	free(run.plan);
	return rc;
}

/* ---- the input ------------------------------------------------------------------------- */

/* An integer key (any integer type; for per-layer arrays, the first layer's value, which
 * is what llama.cpp's n_head() means). 0 when absent. */
static uint32_t kv_count(const struct gguf_reader *r, const char *arch, const char *suffix)
{
	char key[256];
	union gguf_scalar v;
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	const struct gguf_kv *kv = gguf_read_find_kv(r, key);
	if (!kv)
		return 0;
	enum gguf_value_type t = kv->type;
	if (t == GGUF_VALUE_ARRAY) {
		if (!kv->count || gguf_kv_element(kv, 0, &v))
			return 0;
		t = kv->element_type;
	} else if (gguf_kv_scalar(kv, &v)) {
		return 0;
	}
	switch (t) {
	case GGUF_VALUE_UINT8: return v.u8;
	case GGUF_VALUE_INT8: return v.i8 > 0 ? (uint32_t)v.i8 : 0;
	case GGUF_VALUE_UINT16: return v.u16;
	case GGUF_VALUE_INT16: return v.i16 > 0 ? (uint32_t)v.i16 : 0;
	case GGUF_VALUE_UINT32: return v.u32;
	case GGUF_VALUE_INT32: return v.i32 > 0 ? (uint32_t)v.i32 : 0;
	case GGUF_VALUE_UINT64: return v.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)v.u64;
	case GGUF_VALUE_INT64: return v.i64 > 0 && v.i64 <= UINT32_MAX ? (uint32_t)v.i64 : 0;
	default: return 0;
	}
}

static int read_input(struct run *run)
{
	int rc = gguf_read_open(&run->reader, run->in_path, &run->err);
	if (rc)
		return modl_error_from_fmt(rc, run->in_path, run->err.message);
	const struct gguf_kv *split = gguf_read_find_kv(run->reader, "split.count");
	union gguf_scalar v;
	if (split && split->type == GGUF_VALUE_UINT16 && !gguf_kv_scalar(split, &v) && v.u16 > 1)
		return modl_error_set(MODL_EINVALID,
				      "%s: one part of a model split in %u files; merge them first",
				      run->in_path, v.u16);
	run->r->file_in = gguf_read_file_size(run->reader);
	return 0;
}

/* ---- the plan ---------------------------------------------------------------------------- */

static int plan_compare(const void *a, const void *b)
{
	return quant_mix_compare(((const struct plan *)a)->name, ((const struct plan *)b)->name);
}

static uint32_t effective_dims(const struct gguf_tensor_info *t)
{
	for (uint32_t i = GGUF_DIMS_MAX - 1; i >= 1; i--)
		if (t->ne[i] > 1)
			return i + 1;
	return 1;
}

static int is_float_type(uint32_t type)
{
	return type == QUANT_F32 || type == QUANT_F16 || type == QUANT_BF16;
}

static int model_info(struct run *run, struct quant_mix_model *m, char *arch, size_t arch_len)
{
	const struct gguf_kv *kv = gguf_read_find_kv(run->reader, "general.architecture");
	struct gguf_string s;
	if (!kv || gguf_kv_get_string(kv, &s, &run->err) || !s.len || s.len >= arch_len ||
	    memchr(s.data, 0, (size_t)s.len))
		return modl_error_set(MODL_EINVALID, "%s: no general.architecture string", run->in_path);
	memcpy(arch, s.data, (size_t)s.len);
	arch[s.len] = '\0';
	memset(m, 0, sizeof(*m));
	m->arch = arch;
	m->n_layer = kv_count(run->reader, arch, "block_count");
	m->n_head = kv_count(run->reader, arch, "attention.head_count");
	char key[160];
	snprintf(key, sizeof(key), "%s.attention.head_count_kv", arch);
	m->n_head_kv = gguf_read_find_kv(run->reader, key)
			       ? kv_count(run->reader, arch, "attention.head_count_kv")
			       : m->n_head; /* llama.cpp's default: no GQA */
	m->n_expert = kv_count(run->reader, arch, "expert_count");
	m->tied_embeddings = 1;
	uint32_t wv = 0;
	int max_block = -1;
	for (size_t i = 0; i < run->n; i++) {
		const char *name = gguf_read_tensor(run->reader, i)->name;
		int block;
		if (!strcmp(name, "output.weight"))
			m->tied_embeddings = 0;
		wv += (uint32_t)quant_mix_is_attention_v(name);
		if (sscanf(name, "blk.%d.", &block) == 1 && block > max_block)
			max_block = block;
	}
	m->n_attention_wv = wv;
	if (!m->n_layer && max_block >= 0)
		m->n_layer = (uint32_t)max_block + 1; /* no block_count: as many as the names say */
	return 0;
}

static int make_plan(struct run *run)
{
	struct quant_mix_model model;
	struct quant_mix *mix = NULL;
	char arch[128];
	int rc;
	run->n = gguf_read_tensor_count(run->reader);
	if (!(run->plan = calloc(run->n ? run->n : 1, sizeof(*run->plan))))
		return modl_error_oom();
	for (size_t i = 0; i < run->n; i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(run->reader, i);
		run->plan[i] = (struct plan){ .index = i, .name = t->name, .n_dims = effective_dims(t) };
	}
	qsort(run->plan, run->n, sizeof(*run->plan), plan_compare);
	if ((rc = model_info(run, &model, arch, sizeof(arch))) ||
	    (rc = quant_mix_begin(&mix, run->o->ftype, &model)))
		return rc;
	for (size_t i = 0; i < run->n && !rc; i++) {
		struct plan *p = &run->plan[i];
		const struct gguf_tensor_info *t = gguf_read_tensor(run->reader, p->index);
		if ((rc = quant_mix_select(mix, t->name, t->n_dims, t->ne, t->type, &p->type))) {
			modl_error_prefix("%s", run->in_path);
			break;
		}
		if (p->type != t->type) {
			if (!quant_type_known(t->type))
				rc = modl_error_set(MODL_EINVALID,
						    "%s: tensor '%s': cannot convert from type %s",
						    run->in_path, t->name, gguf_tensor_type_name(t->type));
			else if (!is_float_type(t->type) && !run->o->allow_requantize)
				rc = modl_error_set(MODL_EINVALID,
						    "%s: tensor '%s' is already quantized (%s); "
						    "requantizing needs --allow-requantize",
						    run->in_path, t->name, quant_type_name(t->type));
		}
		if (!rc && gguf_tensor_nbytes(p->type, t->n_dims, t->ne, &p->size_out))
			rc = modl_error_set(MODL_EINVALID, "%s: tensor '%s': size overflows", run->in_path,
					    t->name);
	}
	run->r->fallbacks = quant_mix_fallbacks(mix);
	quant_mix_end(mix);
	return rc;
}

/* ---- the output file ------------------------------------------------------------------- */

static int open_output(struct run *run)
{
	int rc;
	if ((rc = tensor_stream_open(&run->out)))
		return rc;
	if ((rc = gguf_writer_begin(&run->out.writer, run->out.fd, &run->out.err)))
		return modl_error_from_fmt(rc, run->out_path, run->out.err.message);
	return 0;
}

static int is_dropped_key(const char *key)
{
	return !strcmp(key, "general.file_type") || !strcmp(key, "general.quantization_version") ||
	       !strcmp(key, "split.no") || !strcmp(key, "split.count") || !strcmp(key, "split.tensors.count");
}

static int write_header(struct run *run)
{
	struct gguf_writer *w = run->out.writer;
	int rc = 0;
	for (size_t i = 0; !rc && i < gguf_read_kv_count(run->reader); i++) {
		const struct gguf_kv *kv = gguf_read_kv(run->reader, i);
		if (!is_dropped_key(kv->key))
			rc = gguf_writer_copy_kv(w, kv);
	}
	if (!rc)
		rc = gguf_writer_add_u32(w, "general.quantization_version", 2);
	if (!rc)
		rc = gguf_writer_add_u32(w, "general.file_type", run->o->ftype);
	for (size_t i = 0; !rc && i < run->n; i++) {
		const struct plan *p = &run->plan[i];
		rc = gguf_writer_add_tensor(w, p->name, p->type, p->n_dims,
					    gguf_read_tensor(run->reader, p->index)->ne);
	}
	return rc ? tensor_stream_failure(&run->out, rc) : 0;
}

/* ---- streaming the tensors ---------------------------------------------------------------- */

struct tensor_job {
	const struct run *run;
	const char *name;
	const unsigned char *src;
	uint32_t src_type, dst_type;
	size_t src_row, dst_row;
	int64_t n_per_row;
	int convert;
};

static int write_tensor(struct run *run, const struct plan *p);

static int write_tensors(struct run *run)
{
	unsigned long long total = 0;
	int rc = 0;
	for (size_t i = 0; i < run->n; i++)
		total += gguf_read_tensor(run->reader, run->plan[i].index)->size;
	if (run->o->progress)
		progress_set_total(run->o->progress, total, (unsigned)run->n);
	for (size_t i = 0; i < run->n && !rc; i++)
		rc = write_tensor(run, &run->plan[i]);
	return rc;
}

/* The validator's message (about the block) with the file, tensor and row in front. */
static int row_failure(const struct tensor_job *j, int64_t row, const char *what)
{
	modl_error_prefix("%s: tensor '%s' %s (row %lld)", j->run->in_path, j->name, what, (long long)row);
	return MODL_EINVALID;
}

/* Converts and quantizes rows [first, last) into the slot, or checks them when the
 * tensor is copied. */
static int chunk_run(void *ctx, int64_t first, int64_t last, struct tensor_slot *s, float *row)
{
	const struct tensor_job *j = ctx;
	const unsigned char *in = j->src + (size_t)first * j->src_row;
	if (!j->convert) {
		s->data = in;
		s->len = (size_t)(last - first) * j->src_row;
		for (int64_t r = first; r < last && quant_type_known(j->src_type); r++, in += j->src_row)
			if (quant_validate_row(j->src_type, in, j->n_per_row))
				return row_failure(j, r, "has invalid data");
		return 0;
	}
	unsigned char *out = s->buf;
	for (int64_t r = first; r < last; r++, in += j->src_row, out += j->dst_row) {
		const float *x = row;
		if (j->src_type == QUANT_F32 && (uintptr_t)in % sizeof(float) == 0)
			x = (const float *)(const void *)in;
		else
			dequant_row(j->src_type, in, row, j->n_per_row);
		int64_t bad = tensor_first_nonfinite(x, j->n_per_row);
		if (bad >= 0)
			return modl_error_set(
				MODL_EINVALID,
				"%s: tensor '%s' has a NaN or infinite value (row %lld, column %lld)",
				j->run->in_path, j->name, (long long)r, (long long)bad);
		quant_row(j->dst_type, x, out, j->n_per_row);
		if (quant_validate_row(j->dst_type, out, j->n_per_row))
			return row_failure(j, r, "does not fit in the new type");
	}
	s->data = s->buf;
	s->len = (size_t)(last - first) * j->dst_row;
	return 0;
}

static int write_tensor(struct run *run, const struct plan *p)
{
	const struct gguf_tensor_info *t = gguf_read_tensor(run->reader, p->index);
	int64_t n_per_row = (int64_t)t->ne[0];
	int64_t nrows = n_per_row ? (int64_t)(t->n_elements / t->ne[0]) : 0;
	struct tensor_job j = {
		.run = run,
		.name = t->name,
		.src = gguf_read_tensor_data(run->reader, p->index),
		.src_type = t->type,
		.dst_type = p->type,
		.n_per_row = n_per_row,
		.src_row = nrows ? (size_t)(t->size / (uint64_t)nrows) : 0,
		.dst_row = nrows ? (size_t)(p->size_out / (uint64_t)nrows) : 0,
		.convert = t->type != p->type,
	};
	struct tensor_chunks c = {
		.name = t->name,
		.size_out = p->size_out,
		.src = j.src,
		.src_row = j.src_row,
		.dst_row = j.dst_row,
		.n_per_row = n_per_row,
		.nrows = nrows,
		.buffered = j.convert,
		.scratch_floats = j.convert ? (size_t)n_per_row : 0,
		.release = TENSOR_RELEASE_BATCHES,
		.chunk = chunk_run,
		.ctx = &j,
	};
	int rc = tensor_stream_write(&run->out, &c);
	if (rc)
		return rc;
	struct quantize_result *r = run->r;
	r->tensors++;
	r->elements += t->n_elements;
	r->bytes_in += t->size;
	r->bytes_out += p->size_out;
	r->converted += (uint64_t)j.convert;
	r->copied += (uint64_t)!j.convert;
	if (p->type < GGUF_TENSOR_COUNT) {
		r->count_by_type[p->type]++;
		r->bytes_by_type[p->type] += p->size_out;
	}
	return 0;
}
