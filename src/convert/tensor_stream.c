/* Writing a GGUF file tensor by tensor: the temporary output file and the chunked,
 * pooled streaming of one tensor that `modl quantize` and `modl convert` share (see
 * tensor_stream.h). */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sync_file_range */
#endif

#include "tensor_stream.h"

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
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/pool.h"

/* Values per chunk: large enough that the lock is rare, small enough that a slot stays
 * about 1 MiB even for F32 output. */
#define CHUNK_ELEMENTS ((int64_t)1 << 18)
#define RING_PER_THREAD 4
/* Dirty output beyond this is handed to the disk at once (sync_file_range), so that the
 * final fsync waits for the tail only. */
#define WRITEBACK_BYTES ((off_t)32 << 20)
/* TENSOR_RELEASE_BATCHES drops input pages in batches of this size (see flush_locked). */
#define RELEASE_BYTES ((ptrdiff_t)16 << 20)

static void signals_arm(const char *path);
static void signals_disarm(void);

/* ---- the output file ------------------------------------------------------------------- */

void tensor_stream_init(struct tensor_stream *s, const char *out_path, unsigned threads,
			struct progress *progress)
{
	memset(s, 0, sizeof(*s));
	s->out_path = out_path;
	s->threads = threads;
	s->progress = progress;
	s->fd = -1;
	s->page = sysconf(_SC_PAGESIZE);
	if (s->page <= 0)
		s->page = 4096;
}

int tensor_stream_open(struct tensor_stream *s)
{
	int rc;
	if ((rc = strbuf_addf(&s->tmp, "%s.tmp.XXXXXX", s->out_path)))
		return rc;
	s->fd = mkstemp(s->tmp.buf);
	if (s->fd < 0) {
		int e = errno;
		strbuf_reset(&s->tmp);
		return modl_error_errno(MODL_EFAIL, e, "cannot create a file next to %s", s->out_path);
	}
	signals_arm(s->tmp.buf);
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(s->fd, 0666 & ~mask) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot chmod %s", s->tmp.buf);
	return 0;
}

int tensor_stream_failure(struct tensor_stream *s, int rc)
{
	if (rc == FMT_EIO || rc == FMT_ENOMEM)
		return modl_error_set(MODL_EFAIL, "cannot write %s: %s", s->out_path, s->err.message);
	return modl_error_set(MODL_EINVALID, "%s: %s", s->source, s->err.message);
}

int tensor_stream_close(struct tensor_stream *s, uint64_t *file_out)
{
	struct strbuf dir = STRBUF_INIT;
	struct stat st;
	int rc = gguf_writer_finish(s->writer);
	if (rc)
		return tensor_stream_failure(s, rc);
	if (fsync(s->fd) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot sync %s", s->tmp.buf);
	if (fstat(s->fd, &st) == 0)
		*file_out = (uint64_t)st.st_size;
	if (close(s->fd) != 0) {
		s->fd = -1;
		return modl_error_errno(MODL_EFAIL, errno, "cannot write %s", s->tmp.buf);
	}
	s->fd = -1;
	if (rename(s->tmp.buf, s->out_path) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot rename %s to %s", s->tmp.buf, s->out_path);
	signals_disarm();
	strbuf_reset(&s->tmp); /* nothing left to remove */
	if (!(rc = fs_parent_dir(s->out_path, &dir)))
		rc = fs_sync_dir(dir.buf);
	strbuf_free(&dir);
	return rc;
}

void tensor_stream_end(struct tensor_stream *s, int rc)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (rc && s->tmp.len)
		unlink(s->tmp.buf);
	if (s->tmp.len)
		signals_disarm();
	gguf_writer_free(s->writer);
	s->writer = NULL;
	strbuf_free(&s->tmp);
}

/* A signal during the run removes the temporary file before the default action, so an
 * interrupted run leaves nothing behind. SIGXFSZ is ignored so that a file-size limit
 * makes write() fail with EFBIG (reported, file removed) instead of killing us. */
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

/* ---- streaming one tensor ---------------------------------------------------------------- */

struct job {
	struct tensor_stream *s;
	const struct tensor_chunks *c;
	int64_t chunk_rows, n_chunks;
	unsigned nslots;
	struct tensor_slot *slots;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t next_chunk, next_write; /* under lock */
	int writing;                    /* a worker is writing; under lock */
	const unsigned char *released;  /* input before this is dropped; the writer's */
	int rc;                         /* the first failure; under lock */
	struct modl_error_saved error;  /* its message, from the worker's thread */
};

/* Drops the pages wholly inside [p, p + len) from this process (they stay in the page
 * cache): the mapping is read once, front to back, and must not pile up in memory. */
static void release_input(const struct tensor_stream *s, const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)s->page;
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Starts the disk on what has been written since the last call, without waiting. */
static void start_writeback(struct tensor_stream *s)
{
#if defined(__linux__)
	off_t pos = lseek(s->fd, 0, SEEK_CUR);
	if (pos > 0 && pos - s->synced >= WRITEBACK_BYTES) {
		sync_file_range(s->fd, s->synced, pos - s->synced, SYNC_FILE_RANGE_WRITE);
		s->synced = pos;
	}
#else
	(void)s;
#endif
}

static void job_fail_locked(struct job *j, int rc)
{
	if (!j->rc) {
		j->rc = rc;
		modl_error_save(&j->error);
		j->error.code = rc;
	}
	pthread_cond_broadcast(&j->cond);
}

int64_t tensor_first_nonfinite(const float *x, int64_t n)
{
	/* Fixed blocks of 64 with no branch inside, so that the compiler vectorizes the
	 * common (all finite) case at -O2. */
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

/* Writes every consecutive completed chunk, if no other worker is writing. Called and
 * returns with the lock held; the lock is released while writing. */
static void flush_locked(struct job *j)
{
	const struct tensor_chunks *c = j->c;
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
			struct tensor_slot *s = &j->slots[k % j->nslots];
			rc = gguf_writer_write_tensor_data(j->s->writer, s->data, s->len);
			int64_t rows = k == j->n_chunks - 1 ? c->nrows - k * j->chunk_rows : j->chunk_rows;
			size_t in_len = (size_t)rows * c->src_row;
			if (c->release == TENSOR_RELEASE_CHUNKS)
				release_input(j->s, c->src + (size_t)(k * j->chunk_rows) * c->src_row,
					      in_len);
			consumed += in_len;
		}
		if (c->release == TENSOR_RELEASE_BATCHES) {
			/* input pages go in batches: each madvise interrupts the other threads' CPUs
			 * to flush their TLBs, which costs more than the memory it saves when done
			 * per chunk */
			const unsigned char *done =
				c->src +
				(size_t)(last * j->chunk_rows < c->nrows ? last * j->chunk_rows : c->nrows) *
					c->src_row;
			if (done - j->released >= RELEASE_BYTES || last == j->n_chunks) {
				release_input(j->s, j->released, (size_t)(done - j->released));
				j->released = done;
			}
		}
		if (rc)
			rc = tensor_stream_failure(j->s, rc);
		else
			start_writeback(j->s);
		if (j->s->progress)
			progress_add_bytes(j->s->progress, consumed);
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

static void worker(void *ctx, unsigned index)
{
	struct job *j = ctx;
	const struct tensor_chunks *c = j->c;
	float *scratch = NULL;
	(void)index;
	if (c->scratch_floats && !(scratch = malloc(c->scratch_floats * sizeof(float)))) {
		pthread_mutex_lock(&j->lock);
		job_fail_locked(j, modl_error_oom());
		pthread_mutex_unlock(&j->lock);
		return;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->rc && j->next_chunk < j->n_chunks) {
		int64_t k = j->next_chunk++;
		struct tensor_slot *s = &j->slots[k % j->nslots];
		/* the slot still holds chunk k - nslots until that one is written */
		while (!j->rc && k - j->next_write >= (int64_t)j->nslots)
			pthread_cond_wait(&j->cond, &j->lock);
		if (j->rc)
			break;
		pthread_mutex_unlock(&j->lock);
		int64_t first = k * j->chunk_rows, last = first + j->chunk_rows;
		if (last > c->nrows)
			last = c->nrows;
		int rc = c->chunk(c->ctx, first, last, s, scratch);
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
	free(scratch);
}

static int job_setup(struct job *j, struct tensor_stream *s, const struct tensor_chunks *c)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->s = s;
	j->c = c;
	j->released = c->src;
	j->chunk_rows =
		c->n_per_row >= CHUNK_ELEMENTS ? 1 : CHUNK_ELEMENTS / (c->n_per_row ? c->n_per_row : 1);
	j->n_chunks = c->nrows ? (c->nrows + j->chunk_rows - 1) / j->chunk_rows : 0;
	unsigned threads = s->threads;
	if ((int64_t)threads > j->n_chunks)
		threads = j->n_chunks > 0 ? (unsigned)j->n_chunks : 1;
	j->nslots = threads * RING_PER_THREAD;
	if (!(j->slots = calloc(j->nslots, sizeof(*j->slots))))
		return modl_error_oom();
	for (unsigned i = 0; c->buffered && i < j->nslots; i++)
		if (!(j->slots[i].buf = malloc((size_t)j->chunk_rows * c->dst_row + 1)))
			return modl_error_oom();
	return 0;
}

static void job_free(struct job *j)
{
	for (unsigned i = 0; j->slots && i < j->nslots; i++)
		free(j->slots[i].buf);
	free(j->slots);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
}

int tensor_stream_write(struct tensor_stream *s, const struct tensor_chunks *c)
{
	uint64_t in_bytes = (uint64_t)c->nrows * c->src_row;
	struct job j;
	int rc;
	if (s->progress)
		progress_file_start(s->progress, c->name);
	if ((rc = job_setup(&j, s, c)))
		goto out;
	if (c->src && in_bytes)
		madvise((void *)((uintptr_t)c->src & ~((uintptr_t)s->page - 1)),
			in_bytes + ((uintptr_t)c->src & ((uintptr_t)s->page - 1)), MADV_WILLNEED);
	if (j.n_chunks) {
		unsigned threads = j.nslots / RING_PER_THREAD;
		rc = threads > 1 ? pool_run(threads, worker, &j) : (worker(&j, 0), 0);
		if (!rc && j.rc)
			rc = modl_error_restore(&j.error);
	}
	/* rows read out of order: their pages go once the tensor is done */
	if (!rc && c->release == TENSOR_RELEASE_AT_END)
		release_input(s, c->src, in_bytes);
out:
	job_free(&j);
	if (rc)
		return rc;
	if (s->progress)
		progress_file_done(s->progress, c->name, c->size_out, 0);
	return 0;
}
