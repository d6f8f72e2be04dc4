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
 * Streaming one tensor: its rows are cut into chunks of about CHUNK_ELEMENTS values.
 * Workers of the pool take chunks in order; each converts its rows from the mapped
 * BF16/F16/F32 data to F32 (Q and K rows taken in un-permuted order), checks them
 * finite, quantizes them into a slot of a ring and checks the result as
 * ggml_validate_row_data does. Whichever worker completes the chunk the file needs next
 * writes every consecutive completed chunk, so the disk and the cores work at the same
 * time and bytes leave in file order whatever the thread count. Memory: the ring
 * (RING_PER_THREAD chunks a thread) and one row a thread; the mapped input is released
 * as it is consumed. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sync_file_range */
#endif

#include "convert_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../error.h"
#include "../fs.h"
#include "../pool.h"
#include "../quant/mix.h"
#include "../quant/quant.h"
#include "../strbuf.h"

#define CHUNK_ELEMENTS ((int64_t)1 << 18)
#define RING_PER_THREAD 4
#define WRITEBACK_BYTES ((off_t)32 << 20)

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
	unsigned threads;
	char *out_path;
	struct strbuf tmp;
	int fd;
	struct gguf_writer *writer;
	struct fmt_error err;
	off_t synced;
	long page;
	int have_model, have_vocab, have_naming;
};

static int open_checkpoint(struct run *run);
static int choose_types(struct run *run);
static int choose_output(struct run *run);
static int open_output(struct run *run);
static int write_header(struct run *run);
static int write_tensors(struct run *run);
static int close_output(struct run *run);
static void signals_arm(const char *path);
static void signals_disarm(void);

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill_result(struct run *run)
{
	struct convert_result *r = run->r;
	r->ftype = run->ftype;
	r->type_name = quant_ftype_name(run->ftype);
	r->source_dtype = run->plan.float_type == QUANT_BF16 ? "BF16" : run->plan.float_type == QUANT_F16 ? "F16" : "F32";
	r->threads = run->threads;
	r->n_vocab = run->model.n_vocab;
	r->parameters = run->plan.parameters;
	snprintf(r->tokenizer_model, sizeof(r->tokenizer_model), "%s", run->vocab.model);
	snprintf(r->tokenizer_pre, sizeof(r->tokenizer_pre), "%s", run->vocab.pre);
	if (!(r->source_dir = strdup(run->dir)) || !(r->architecture = strdup(run->model.arch->gguf_name)) ||
	    !(r->hf_architecture = strdup(run->model.arch->hf_name)) || !(r->name = strdup(run->naming.name)) ||
	    (run->naming.size_label && !(r->size_label = strdup(run->naming.size_label))) ||
	    !(r->output = strdup(run->out_path)))
		return modl_error_set(MODL_EFAIL, "out of memory");
	return 0;
}

int convert_run(const struct convert_options *o, struct convert_result *result)
{
	struct run run = { .o = o, .r = result, .fd = -1, .tmp = STRBUF_INIT };
	double started = now_seconds();
	int rc;
	memset(result, 0, sizeof(*result));
	run.threads = o->threads ? o->threads : pool_default_threads();
	run.page = sysconf(_SC_PAGESIZE);
	if (run.page <= 0)
		run.page = 4096;
	/* A bad TYPE or --pre is a usage error: say so before reading gigabytes. */
	if (o->type && (rc = quant_ftype_from_name(o->type, &run.ftype)))
		return modl_error_set(MODL_EUSAGE, "convert: unknown type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 "
				      "Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K)", o->type);
	if (o->pre && !convert_pre_is_known(o->pre))
		return modl_error_set(MODL_EUSAGE, "convert: --pre '%s' is not a pre-tokenizer llama.cpp knows (%s)",
				      o->pre, convert_pre_names());
	if ((rc = convert_resolve_source(o, &run.dir, &run.repo_id)))
		goto out;
	if ((rc = convert_model_load(&run.model, run.dir)))
		goto out;
	run.have_model = 1;
	if ((rc = open_checkpoint(&run)) || (rc = convert_plan_build(&run.plan, &run.model, run.st, run.dir)))
		goto out;
	if (!o->type)
		run.ftype = run.plan.float_type == QUANT_BF16 ? QUANT_FTYPE_BF16
			    : run.plan.float_type == QUANT_F16 ? QUANT_FTYPE_F16 : QUANT_FTYPE_ALL_F32;
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
	if ((rc = write_header(&run)) || (rc = write_tensors(&run)) || (rc = close_output(&run)))
		goto out;
	result->seconds = now_seconds() - started;
out:
	if (run.fd >= 0)
		close(run.fd);
	if (rc && run.tmp.len)
		unlink(run.tmp.buf);
	if (run.tmp.len)
		signals_disarm();
	gguf_writer_free(run.writer);
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
	strbuf_free(&run.tmp);
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
	/* A missing shard or no safetensors at all is a problem of the input (exit 8). */
	if (rc == FMT_ENOTFOUND)
		return modl_error_set(MODL_EINVALID, "%s: %s", run->dir, run->err.message);
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
			.n_layer = run->model.n_layer, .n_head = run->model.n_head, .n_head_kv = run->model.n_head_kv,
			.tied_embeddings = convert_plan_tied(plan), .arch = run->model.arch->gguf_name,
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
			rc = modl_error_set(MODL_EFAIL, "tensor %s: no quantizer for type %u", t->name, t->type);
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
		return (run->out_path = strdup(run->o->output)) ? 0 : modl_error_set(MODL_EFAIL, "out of memory");
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

static int writer_failure(struct run *run, int rc)
{
	if (rc == FMT_EIO || rc == FMT_ENOMEM)
		return modl_error_set(MODL_EFAIL, "cannot write %s: %s", run->out_path, run->err.message);
	return modl_error_set(MODL_EINVALID, "%s: %s", run->dir, run->err.message);
}

static int open_output(struct run *run)
{
	int rc;
	if ((rc = strbuf_addf(&run->tmp, "%s.tmp.XXXXXX", run->out_path)))
		return rc;
	run->fd = mkstemp(run->tmp.buf);
	if (run->fd < 0) {
		int e = errno;
		strbuf_reset(&run->tmp);
		return modl_error_errno(MODL_EFAIL, e, "cannot create a file next to %s", run->out_path);
	}
	signals_arm(run->tmp.buf);
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(run->fd, 0666 & ~mask) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot chmod %s", run->tmp.buf);
	if ((rc = gguf_writer_begin(&run->writer, run->fd, &run->err)))
		return writer_failure(run, rc);
	return 0;
}

static int write_header(struct run *run)
{
	struct gguf_writer *w = run->writer;
	int rc;
	if ((rc = gguf_writer_add_string(w, "general.architecture", run->model.arch->gguf_name)) ||
	    (rc = gguf_writer_add_string(w, "general.type", "model")) ||
	    (rc = convert_naming_write_keys(&run->naming, w)) || (rc = convert_model_write_keys(&run->model, w)) ||
	    (rc = convert_vocab_write_keys(&run->vocab, w)) ||
	    (rc = gguf_writer_add_u32(w, "general.quantization_version", 2)) ||
	    (rc = gguf_writer_add_u32(w, "general.file_type", run->ftype)))
		return writer_failure(run, rc);
	for (size_t i = 0; i < run->plan.count; i++) {
		const struct convert_tensor *t = &run->plan.tensors[i];
		if ((rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne)))
			return writer_failure(run, rc);
	}
	return 0;
}

static int close_output(struct run *run)
{
	struct strbuf dir = STRBUF_INIT;
	struct stat st;
	int rc = gguf_writer_finish(run->writer);
	if (rc)
		return writer_failure(run, rc);
	if (fsync(run->fd) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot sync %s", run->tmp.buf);
	if (fstat(run->fd, &st) == 0)
		run->r->file_out = (uint64_t)st.st_size;
	if (close(run->fd) != 0) {
		run->fd = -1;
		return modl_error_errno(MODL_EFAIL, errno, "cannot write %s", run->tmp.buf);
	}
	run->fd = -1;
	if (rename(run->tmp.buf, run->out_path) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot rename %s to %s", run->tmp.buf, run->out_path);
	signals_disarm();
	strbuf_reset(&run->tmp);
	if (!(rc = fs_parent_dir(run->out_path, &dir)))
		rc = fs_sync_dir(dir.buf);
	strbuf_free(&dir);
	return rc;
}

/* A signal removes the temporary file before its default action; SIGXFSZ is ignored so
 * that a file-size limit is a reported write error. */
static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_CLEANUP_SIGNALS (sizeof(cleanup_signals) / sizeof(cleanup_signals[0]))
static char signal_path[PATH_MAX];
static struct sigaction saved_actions[N_CLEANUP_SIGNALS], saved_xfsz;

static void on_signal(int sig)
{
	if (signal_path[0])
		unlink(signal_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void signals_arm(const char *path)
{
	struct sigaction sa;
	snprintf(signal_path, sizeof(signal_path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++)
		sigaction(cleanup_signals[i], &sa, &saved_actions[i]);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &sa, &saved_xfsz);
}

static void signals_disarm(void)
{
	if (!signal_path[0])
		return;
	for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++)
		sigaction(cleanup_signals[i], &saved_actions[i], NULL);
	sigaction(SIGXFSZ, &saved_xfsz, NULL);
	signal_path[0] = '\0';
}

/* ---- streaming the tensors ---------------------------------------------------------------- */

struct slot {
	unsigned char *buf;
	const void *data; /* what goes to the file: buf, or the mapping itself */
	size_t len;
	int ready;
};

struct tensor_job {
	struct run *run;
	const struct convert_tensor *t;
	long source;                   /* safetensors index, -1: generated */
	const unsigned char *src;      /* the mapped data (NULL: generated) */
	size_t src_row;                /* bytes of a source row */
	uint32_t dst_type;
	size_t dst_row;
	int64_t n_per_row, nrows, chunk_rows, n_chunks;
	int raw;                       /* the bytes are the output's already (same type) */
	uint32_t heads;                /* un-permute rows in this many heads */
	unsigned nslots;
	struct slot *slots;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t next_chunk, next_write;
	int writing;
	int rc;
	char message[1024];
};

static void release_input(const struct run *run, const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)run->page;
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

static void start_writeback(struct run *run)
{
#if defined(__linux__)
	off_t pos = lseek(run->fd, 0, SEEK_CUR);
	if (pos > 0 && pos - run->synced >= WRITEBACK_BYTES) {
		sync_file_range(run->fd, run->synced, pos - run->synced, SYNC_FILE_RANGE_WRITE);
		run->synced = pos;
	}
#else
	(void)run;
#endif
}

static void job_fail_locked(struct tensor_job *j, int rc)
{
	if (!j->rc) {
		j->rc = rc;
		snprintf(j->message, sizeof(j->message), "%s", modl_error_message());
	}
	pthread_cond_broadcast(&j->cond);
}

/* gguf.md §3: HF stores each head's rows as (first halves, second halves) for
 * rotate_half; llama.cpp's LLAMA rope pairs adjacent rows, as Meta's checkpoints did.
 * Output row r of a head of hd rows is source row j*(hd/2) + i for r = 2i + j. */
static int64_t source_row(const struct tensor_job *j, int64_t r, int64_t rows)
{
	if (!j->heads)
		return r;
	int64_t hd = rows / j->heads, h = r / hd, k = r % hd;
	return h * hd + (k % 2) * (hd / 2) + k / 2;
}

static int64_t first_nonfinite(const float *x, int64_t n)
{
	const uint32_t *u = (const void *)x;
	uint32_t bad = 0;
	for (int64_t i = 0; i < n; i++)
		bad |= (uint32_t)((u[i] & 0x7f800000u) == 0x7f800000u);
	if (!bad)
		return -1;
	for (int64_t i = 0; i < n; i++)
		if ((u[i] & 0x7f800000u) == 0x7f800000u)
			return i;
	return -1;
}

/* One row of the output in F32: from the checkpoint (a 1-D tensor with heads is
 * un-permuted element by element), or from the generated values. */
static int load_row(struct tensor_job *j, int64_t r, float *row, float *scratch)
{
	struct run *run = j->run;
	if (j->source < 0) {
		memcpy(row, j->t->data + r * j->n_per_row, (size_t)j->n_per_row * sizeof(float));
		return 0;
	}
	int vector = j->heads && j->nrows == 1;
	float *dst = vector ? scratch : row;
	struct fmt_error err;
	if (safetensors_row_to_f32(run->st, (size_t)j->source, (uint64_t)(vector ? r : source_row(j, r, j->nrows)),
				   dst, &err))
		return modl_error_set(MODL_EINVALID, "%s: %s", run->dir, err.message);
	if (vector)
		for (int64_t e = 0; e < j->n_per_row; e++)
			row[e] = scratch[source_row(j, e, j->n_per_row)];
	return 0;
}

static int chunk_run(struct tensor_job *j, int64_t k, struct slot *s, float *row, float *scratch)
{
	const char *name = j->source >= 0 ? safetensors_tensor(j->run->st, (size_t)j->source)->name : j->t->name;
	int64_t first = k * j->chunk_rows, last = first + j->chunk_rows;
	if (last > j->nrows)
		last = j->nrows;
	if (j->raw && !j->heads) {
		/* Same type in and out, rows in order: the mapped bytes go out as they are. */
		s->data = j->src + (size_t)first * j->src_row;
		s->len = (size_t)(last - first) * j->src_row;
		for (int64_t r = first; r < last; r++)
			if (quant_validate_row(j->dst_type, j->src + (size_t)r * j->src_row, j->n_per_row))
				return modl_error_set(MODL_EINVALID, "%s: tensor %s has a NaN or infinite value in row %lld",
						      j->run->dir, name, (long long)r);
		return 0;
	}
	unsigned char *out = s->buf;
	for (int64_t r = first; r < last; r++, out += j->dst_row) {
		if (j->raw) { /* same type, rows un-permuted */
			const unsigned char *in = j->src + (size_t)source_row(j, r, j->nrows) * j->src_row;
			memcpy(out, in, j->dst_row);
			if (quant_validate_row(j->dst_type, out, j->n_per_row))
				return modl_error_set(MODL_EINVALID, "%s: tensor %s has a NaN or infinite value in row %lld",
						      j->run->dir, name, (long long)source_row(j, r, j->nrows));
			continue;
		}
		int rc = load_row(j, r, row, scratch);
		if (rc)
			return rc;
		int64_t bad = first_nonfinite(row, j->n_per_row);
		if (bad >= 0)
			return modl_error_set(MODL_EINVALID, "%s: tensor %s has a NaN or infinite value (row %lld, column %lld)",
					      j->run->dir, name, (long long)source_row(j, r, j->nrows), (long long)bad);
		if (j->dst_type == QUANT_F32)
			memcpy(out, row, j->dst_row);
		else
			quant_row(j->dst_type, row, out, j->n_per_row);
		if (quant_validate_row(j->dst_type, out, j->n_per_row))
			return modl_error_set(MODL_EINVALID, "%s: tensor %s does not fit in %s (row %lld): %s%s",
					      j->run->dir, name, quant_type_name(j->dst_type), (long long)r,
					      modl_error_message(),
					      j->dst_type == QUANT_F16 ? "; use --type BF16 or F32" : "");
	}
	s->data = s->buf;
	s->len = (size_t)(last - first) * j->dst_row;
	return 0;
}

static void flush_locked(struct tensor_job *j)
{
	while (!j->writing && !j->rc) {
		int64_t first = j->next_write, last = first;
		while (last < j->n_chunks && last - first < (int64_t)j->nslots && j->slots[last % j->nslots].ready)
			last++;
		if (last == first)
			return;
		j->writing = 1;
		pthread_mutex_unlock(&j->lock);
		int rc = 0;
		unsigned long long consumed = 0;
		for (int64_t k = first; k < last && !rc; k++) {
			struct slot *s = &j->slots[k % j->nslots];
			rc = gguf_writer_write_tensor_data(j->run->writer, s->data, s->len);
			int64_t rows = k == j->n_chunks - 1 ? j->nrows - k * j->chunk_rows : j->chunk_rows;
			size_t in_len = (size_t)rows * j->src_row;
			if (j->src && !j->heads)
				release_input(j->run, j->src + (size_t)(k * j->chunk_rows) * j->src_row, in_len);
			consumed += in_len;
		}
		if (rc)
			rc = writer_failure(j->run, rc);
		else
			start_writeback(j->run);
		if (j->run->o->progress)
			progress_add_bytes(j->run->o->progress, consumed);
		pthread_mutex_lock(&j->lock);
		for (int64_t k = first; k < last; k++)
			j->slots[k % j->nslots].ready = 0;
		j->next_write = last;
		j->writing = 0;
		if (rc)
			job_fail_locked(j, rc);
		pthread_cond_broadcast(&j->cond);
	}
}

static void tensor_worker(void *ctx, unsigned index)
{
	struct tensor_job *j = ctx;
	float *row = malloc((size_t)j->n_per_row * 2 * sizeof(float) + sizeof(float));
	(void)index;
	if (!row) {
		pthread_mutex_lock(&j->lock);
		job_fail_locked(j, modl_error_set(MODL_EFAIL, "out of memory"));
		pthread_mutex_unlock(&j->lock);
		return;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->rc && j->next_chunk < j->n_chunks) {
		int64_t k = j->next_chunk++;
		struct slot *s = &j->slots[k % j->nslots];
		while (!j->rc && k - j->next_write >= (int64_t)j->nslots)
			pthread_cond_wait(&j->cond, &j->lock);
		if (j->rc)
			break;
		pthread_mutex_unlock(&j->lock);
		int rc = chunk_run(j, k, s, row, row + j->n_per_row);
		pthread_mutex_lock(&j->lock);
		if (rc) {
			job_fail_locked(j, rc);
			break;
		}
		s->ready = 1;
		flush_locked(j);
	}
	flush_locked(j);
	pthread_mutex_unlock(&j->lock);
	free(row);
}

static int job_setup(struct tensor_job *j, struct run *run, const struct convert_tensor *t)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->run = run;
	j->t = t;
	j->source = t->source;
	j->dst_type = t->type;
	j->n_per_row = (int64_t)t->ne[0];
	j->nrows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
	j->dst_row = quant_row_size(t->type, j->n_per_row);
	j->heads = t->permute_heads;
	if (t->source >= 0) {
		const struct safetensors_tensor *s = safetensors_tensor(run->st, (size_t)t->source);
		uint32_t in_type = s->dtype == SAFETENSORS_BF16 ? QUANT_BF16 : s->dtype == SAFETENSORS_F16 ? QUANT_F16 : QUANT_F32;
		j->src = safetensors_tensor_data(run->st, (size_t)t->source);
		j->src_row = (size_t)j->n_per_row * (safetensors_dtype_bits(s->dtype) / 8);
		/* 1-D tensors with heads (Q/K biases) are permuted element by element */
		j->raw = in_type == t->type && !(j->heads && j->nrows == 1);
	}
	j->chunk_rows = j->n_per_row >= CHUNK_ELEMENTS ? 1 : CHUNK_ELEMENTS / (j->n_per_row ? j->n_per_row : 1);
	j->n_chunks = j->nrows ? (j->nrows + j->chunk_rows - 1) / j->chunk_rows : 0;
	unsigned threads = run->threads;
	if ((int64_t)threads > j->n_chunks)
		threads = j->n_chunks > 0 ? (unsigned)j->n_chunks : 1;
	j->nslots = threads * RING_PER_THREAD;
	if (!(j->slots = calloc(j->nslots, sizeof(*j->slots))))
		return modl_error_set(MODL_EFAIL, "out of memory");
	for (unsigned i = 0; !(j->raw && !j->heads) && i < j->nslots; i++)
		if (!(j->slots[i].buf = malloc((size_t)j->chunk_rows * j->dst_row + 1)))
			return modl_error_set(MODL_EFAIL, "out of memory");
	return 0;
}

static void job_free(struct tensor_job *j)
{
	for (unsigned i = 0; j->slots && i < j->nslots; i++)
		free(j->slots[i].buf);
	free(j->slots);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
}

static int write_tensor(struct run *run, const struct convert_tensor *t)
{
	struct progress *progress = run->o->progress;
	struct tensor_job j;
	uint64_t in_bytes = 0;
	int rc;
	if (progress)
		progress_file_start(progress, t->name);
	if ((rc = job_setup(&j, run, t)))
		goto out;
	in_bytes = (uint64_t)j.nrows * j.src_row;
	if (j.src && in_bytes)
		madvise((void *)((uintptr_t)j.src & ~((uintptr_t)run->page - 1)),
			in_bytes + ((uintptr_t)j.src & ((uintptr_t)run->page - 1)), MADV_WILLNEED);
	if (j.n_chunks) {
		unsigned threads = j.nslots / RING_PER_THREAD;
		rc = threads > 1 ? pool_run(threads, tensor_worker, &j) : (tensor_worker(&j, 0), 0);
		if (!rc && j.rc)
			rc = modl_error_set(j.rc, "%s", j.message);
	}
	/* permuted tensors were read out of order: their pages go once the tensor is done */
	if (!rc && j.src && j.heads)
		release_input(run, j.src, in_bytes);
out:
	job_free(&j);
	if (rc)
		return rc;
	struct convert_result *r = run->r;
	r->tensors++;
	r->bytes_in += in_bytes;
	r->bytes_out += t->size_out;
	if (t->type < GGUF_TENSOR_COUNT)
		r->count_by_type[t->type]++;
	if (progress)
		progress_file_done(progress, t->name, t->size_out, 0);
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
