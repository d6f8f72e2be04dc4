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
 *   5. stream each tensor through the worker pool (below) into a temporary file next to
 *      the output, then fsync and rename it.
 *
 * Streaming one tensor (tensor_job): the rows are cut into chunks of about
 * CHUNK_ELEMENTS values. Workers take chunks in order, convert each row to F32 in a
 * private one-row buffer, check it is finite, quantize it into a slot of a small ring and
 * check the result as ggml_validate_row_data would. Whichever worker completes the chunk
 * the file needs next writes every consecutive completed chunk while the others go on
 * computing, so the disk and the cores work at the same time and the bytes leave in file
 * order whatever the thread count. A chunk cannot start until its ring slot has been
 * written, which bounds memory to RING_PER_THREAD chunks per thread. Input pages are
 * released once their chunk is written, so the resident size does not grow with the
 * model either. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sync_file_range */
#endif

#include "quantize.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "pool.h"
#include "quant/mix.h"
#include "quant/quant.h"
#include "strbuf.h"

/* Values per chunk: large enough that the lock is rare, small enough that a slot stays
 * about 1 MiB even for F32 output. */
#define CHUNK_ELEMENTS ((int64_t)1 << 18)
#define RING_PER_THREAD 4
/* Dirty output beyond this is handed to the disk at once (sync_file_range), so that the
 * final fsync waits for the tail only. */
#define WRITEBACK_BYTES ((off_t)32 << 20)
/* Input pages are dropped from the process in batches of this size (see flush_locked). */
#define RELEASE_BYTES ((ptrdiff_t)16 << 20)

struct plan {
	size_t index;      /* in the input */
	const char *name;
	uint32_t type;     /* chosen */
	uint32_t n_dims;   /* as ggml_n_dims: trailing 1s dropped, as llama.cpp writes */
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
	unsigned threads;
	int fd;
	struct strbuf tmp;
	struct gguf_writer *writer;
	off_t synced; /* output bytes handed to sync_file_range so far */
	long page;
};

static int read_input(struct run *run);
static int make_plan(struct run *run);
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

int quantize_file(const char *in_path, const char *out_path, const struct quantize_options *o,
		  struct quantize_result *result)
{
	struct run run = { .in_path = in_path, .out_path = out_path, .o = o, .r = result,
			   .fd = -1, .tmp = STRBUF_INIT };
	double started = now_seconds();
	int rc;
	memset(result, 0, sizeof(*result));
	result->ftype = o->ftype;
	if (!quant_ftype_name(o->ftype))
		return modl_error_set(MODL_EUSAGE, "file type %u is not supported", o->ftype);
	run.threads = o->threads ? o->threads : pool_default_threads();
	result->threads = run.threads;
	run.page = sysconf(_SC_PAGESIZE);
	if (run.page <= 0)
		run.page = 4096;

	if ((rc = read_input(&run)) || (rc = make_plan(&run)) || (rc = open_output(&run)))
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
	gguf_read_close(run.reader);
	free(run.plan);
	strbuf_free(&run.tmp);
	return rc;
}

/* ---- the input ------------------------------------------------------------------------- */

static int fmt_failure(int rc, const char *path, const struct fmt_error *err)
{
	switch (rc) {
	case FMT_ENOTFOUND: return modl_error_set(MODL_ENOTFOUND, "%s: %s", path, err->message);
	case FMT_EINVALID:
	case FMT_EUNSUPPORTED: return modl_error_set(MODL_EINVALID, "%s: %s", path, err->message);
	default: return modl_error_set(MODL_EFAIL, "%s: %s", path, err->message);
	}
}

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
		return fmt_failure(rc, run->in_path, &run->err);
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
		return modl_error_set(MODL_EFAIL, "out of memory");
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
				rc = modl_error_set(MODL_EINVALID, "%s: tensor '%s': cannot convert from type %s",
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
		return fmt_failure(rc, run->out_path, &run->err);
	return 0;
}

static int writer_failure(struct run *run, int rc)
{
	if (rc == FMT_EIO || rc == FMT_ENOMEM)
		return modl_error_set(MODL_EFAIL, "cannot write %s: %s", run->out_path, run->err.message);
	return modl_error_set(MODL_EINVALID, "%s: %s", run->in_path, run->err.message);
}

static int is_dropped_key(const char *key)
{
	return !strcmp(key, "general.file_type") || !strcmp(key, "general.quantization_version") ||
	       !strcmp(key, "split.no") || !strcmp(key, "split.count") ||
	       !strcmp(key, "split.tensors.count");
}

static int write_header(struct run *run)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < gguf_read_kv_count(run->reader); i++) {
		const struct gguf_kv *kv = gguf_read_kv(run->reader, i);
		if (!is_dropped_key(kv->key))
			rc = gguf_writer_copy_kv(run->writer, kv);
	}
	if (!rc)
		rc = gguf_writer_add_u32(run->writer, "general.quantization_version", 2);
	if (!rc)
		rc = gguf_writer_add_u32(run->writer, "general.file_type", run->o->ftype);
	for (size_t i = 0; !rc && i < run->n; i++) {
		const struct plan *p = &run->plan[i];
		rc = gguf_writer_add_tensor(run->writer, p->name, p->type, p->n_dims,
					    gguf_read_tensor(run->reader, p->index)->ne);
	}
	return rc ? writer_failure(run, rc) : 0;
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
		return modl_error_errno(MODL_EFAIL, errno, "cannot rename %s to %s", run->tmp.buf,
					run->out_path);
	signals_disarm();
	strbuf_reset(&run->tmp); /* nothing left to remove */
	if (!(rc = fs_parent_dir(run->out_path, &dir)))
		rc = fs_sync_dir(dir.buf);
	strbuf_free(&dir);
	return rc;
}

/* A signal during the run removes the temporary file before the default action, so an
 * interrupted quantize leaves nothing behind. SIGXFSZ is ignored so that a file-size
 * limit makes write() fail with EFBIG (reported, file removed) instead of killing us. */
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
	unsigned char *buf; /* chunk_rows output rows; NULL when copying */
	const void *data;   /* what goes to the file */
	size_t len;
	int ready;
};

struct tensor_job {
	struct run *run;
	const char *name;
	const unsigned char *src;
	uint32_t src_type, dst_type;
	size_t src_row, dst_row;
	int64_t n_per_row, nrows, chunk_rows, n_chunks;
	int convert;
	unsigned nslots;
	struct slot *slots;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t next_chunk, next_write; /* under lock */
	int writing;                    /* a worker is writing; under lock */
	const unsigned char *released;  /* input before this is dropped; the writer's */
	int rc;                         /* the first failure; under lock */
	char message[1024];
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

/* Drops the pages wholly inside [p, p + len) from this process (they stay in the page
 * cache): the mapping is read once, front to back, and must not pile up in memory. */
static void release_input(const struct run *run, const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)run->page;
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Starts the disk on what has been written since the last call, without waiting. */
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

/* Index of the first NaN or infinity in x, or -1. Fixed blocks of 64 with no branch
 * inside, so that the compiler vectorizes the common (all finite) case at -O2. */
static int64_t first_nonfinite(const float *x, int64_t n)
{
	uint32_t bad = 0;
	int64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		uint32_t u[64], block = 0;
		memcpy(u, x + i, sizeof(u));
		for (int k = 0; k < 64; k++)
			block |= (u[k] & 0x7f800000u) == 0x7f800000u;
		bad |= block;
	}
	for (; i < n; i++) {
		uint32_t u;
		memcpy(&u, x + i, 4);
		bad |= (u & 0x7f800000u) == 0x7f800000u;
	}
	for (i = 0; bad && i < n; i++) {
		uint32_t u;
		memcpy(&u, x + i, 4);
		if ((u & 0x7f800000u) == 0x7f800000u)
			return i;
	}
	return -1;
}

/* The validator's message (about the block) with the file, tensor and row in front. */
static int row_failure(const struct tensor_job *j, int64_t row, const char *what)
{
	char why[512];
	snprintf(why, sizeof(why), "%s", modl_error_message());
	return modl_error_set(MODL_EINVALID, "%s: tensor '%s' %s (row %lld): %s", j->run->in_path,
			      j->name, what, (long long)row, why);
}

/* Converts and quantizes chunk k into its slot, or checks it when the tensor is copied. */
static int chunk_run(struct tensor_job *j, int64_t k, struct slot *s, float *row)
{
	int64_t first = k * j->chunk_rows, last = first + j->chunk_rows;
	if (last > j->nrows)
		last = j->nrows;
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
		int64_t bad = first_nonfinite(x, j->n_per_row);
		if (bad >= 0)
			return modl_error_set(MODL_EINVALID,
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

/* Writes every consecutive completed chunk, if no other worker is writing. Called and
 * returns with the lock held; the lock is released while writing. */
static void flush_locked(struct tensor_job *j)
{
	while (!j->writing && !j->rc) {
		int64_t first = j->next_write, last = first;
		while (last < j->n_chunks && last - first < (int64_t)j->nslots &&
		       j->slots[last % j->nslots].ready)
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
			consumed += (size_t)rows * j->src_row;
		}
		/* input pages go in batches: each madvise interrupts the other threads' CPUs to
		 * flush their TLBs, which costs more than the memory it saves when done per chunk */
		const unsigned char *done = j->src + (size_t)(last * j->chunk_rows < j->nrows
								     ? last * j->chunk_rows
								     : j->nrows) * j->src_row;
		if (done - j->released >= RELEASE_BYTES || last == j->n_chunks) {
			release_input(j->run, j->released, (size_t)(done - j->released));
			j->released = done;
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
	float *row = NULL;
	(void)index;
	if (j->convert && !(row = malloc((size_t)j->n_per_row * sizeof(float)))) {
		pthread_mutex_lock(&j->lock);
		job_fail_locked(j, modl_error_set(MODL_EFAIL, "out of memory"));
		pthread_mutex_unlock(&j->lock);
		return;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->rc && j->next_chunk < j->n_chunks) {
		int64_t k = j->next_chunk++;
		struct slot *s = &j->slots[k % j->nslots];
		/* the slot still holds chunk k - nslots until that one is written */
		while (!j->rc && k - j->next_write >= (int64_t)j->nslots)
			pthread_cond_wait(&j->cond, &j->lock);
		if (j->rc)
			break;
		pthread_mutex_unlock(&j->lock);
		int rc = chunk_run(j, k, s, row);
		pthread_mutex_lock(&j->lock);
		if (rc) {
			job_fail_locked(j, rc);
			break;
		}
		s->ready = 1;
		flush_locked(j);
	}
	/* the last worker out may find completed chunks nobody has written yet */
	flush_locked(j);
	pthread_mutex_unlock(&j->lock);
	free(row);
}

static int job_setup(struct tensor_job *j, struct run *run, const struct plan *p)
{
	const struct gguf_tensor_info *t = gguf_read_tensor(run->reader, p->index);
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->run = run;
	j->name = t->name;
	j->src = gguf_read_tensor_data(run->reader, p->index);
	j->released = j->src;
	j->src_type = t->type;
	j->dst_type = p->type;
	j->convert = t->type != p->type;
	j->n_per_row = (int64_t)t->ne[0];
	j->nrows = j->n_per_row ? (int64_t)(t->n_elements / t->ne[0]) : 0;
	j->src_row = j->nrows ? (size_t)(t->size / (uint64_t)j->nrows) : 0;
	j->dst_row = j->nrows ? (size_t)(p->size_out / (uint64_t)j->nrows) : 0;
	j->chunk_rows = j->n_per_row >= CHUNK_ELEMENTS ? 1 : CHUNK_ELEMENTS / (j->n_per_row ? j->n_per_row : 1);
	j->n_chunks = j->nrows ? (j->nrows + j->chunk_rows - 1) / j->chunk_rows : 0;
	unsigned threads = run->threads;
	if ((int64_t)threads > j->n_chunks)
		threads = j->n_chunks > 0 ? (unsigned)j->n_chunks : 1;
	j->nslots = threads * RING_PER_THREAD;
	if (!(j->slots = calloc(j->nslots, sizeof(*j->slots))))
		return modl_error_set(MODL_EFAIL, "out of memory");
	for (unsigned i = 0; j->convert && i < j->nslots; i++)
		if (!(j->slots[i].buf = malloc((size_t)j->chunk_rows * j->dst_row)))
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

static int write_tensor(struct run *run, const struct plan *p)
{
	const struct gguf_tensor_info *t = gguf_read_tensor(run->reader, p->index);
	struct progress *progress = run->o->progress;
	struct tensor_job j;
	int rc;
	if (progress)
		progress_file_start(progress, t->name);
	if ((rc = job_setup(&j, run, p)))
		goto out;
	if (t->size && j.src)
		madvise((void *)((uintptr_t)j.src & ~((uintptr_t)run->page - 1)),
			t->size + ((uintptr_t)j.src & ((uintptr_t)run->page - 1)), MADV_WILLNEED);
	if (j.n_chunks) {
		unsigned threads = j.nslots / RING_PER_THREAD;
		rc = threads > 1 ? pool_run(threads, tensor_worker, &j) : (tensor_worker(&j, 0), 0);
		if (!rc && j.rc)
			rc = modl_error_set(j.rc, "%s", j.message);
	}
out:
	job_free(&j);
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
	if (progress)
		progress_file_done(progress, t->name, p->size_out, 0);
	return 0;
}
