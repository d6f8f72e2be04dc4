/* Writing a GGUF file tensor by tensor, as `modl quantize` and `modl convert` both do.
 *
 * The file: a temporary name next to the output (mkstemp, the umask's mode), removed by
 * a signal (SIGINT, SIGTERM, SIGHUP) or by tensor_stream_end on failure, and only
 * when complete written, fsynced and renamed to its name (the directory fsynced too).
 *
 * One tensor: its rows are cut into chunks of about 2^18 values. Workers of the pool
 * take chunks in order and each fills a slot of a ring (RING_PER_THREAD chunks a thread)
 * through the caller's chunk function: convert and quantize the rows into the slot's
 * buffer, or point it at the mapped input when the bytes go out as they are. Whichever
 * worker completes the chunk the file needs next writes every consecutive completed
 * chunk while the others go on computing, so the disk and the cores work at the same
 * time and the bytes leave in file order whatever the thread count. A chunk cannot start
 * until its ring slot has been written, which bounds memory to the ring; mapped input
 * pages are released as they are consumed (enum tensor_release). */
#ifndef MODL_TENSOR_STREAM_H
#define MODL_TENSOR_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "formats/gguf.h"
#include "util/progress.h"
#include "util/strbuf.h"

struct tensor_stream {
	const char *out_path; /* the final name */
	const char *source;   /* what a malformed-data writer failure names */
	unsigned threads;
	struct progress *progress; /* NULL: none */
	struct strbuf tmp;         /* the temporary file's name while it exists */
	int fd;
	struct gguf_writer *writer; /* the caller begins it on fd with &err */
	struct fmt_error err;
	off_t synced; /* output bytes handed to sync_file_range so far */
	long page;
};

/* Sets up s (no file yet); source may be set later, before the first write. */
void tensor_stream_init(struct tensor_stream *s, const char *out_path, unsigned threads,
			struct progress *progress);
/* Creates the temporary file next to out_path (mode 0666 & ~umask) and arms the signals
 * that remove it. The caller then begins s->writer on s->fd with &s->err. */
int tensor_stream_open(struct tensor_stream *s);
/* A gguf_writer status as a MODL_E* error: I/O and memory "cannot write OUT: why"
 * (MODL_EFAIL), anything else "SOURCE: why" (MODL_EINVALID). */
int tensor_stream_failure(struct tensor_stream *s, int fmt_rc);
/* Finishes the writer, fsyncs, closes and renames the file into place; *file_out gets
 * its size. */
int tensor_stream_close(struct tensor_stream *s, uint64_t *file_out);
/* Frees s; rc != 0: the temporary file, if any, is removed. */
void tensor_stream_end(struct tensor_stream *s, int rc);

/* How the mapped input of a tensor leaves the process (its pages stay in the cache). */
enum tensor_release {
	TENSOR_RELEASE_NONE,    /* nothing mapped, or kept */
	TENSOR_RELEASE_CHUNKS,  /* each chunk's input once written */
	TENSOR_RELEASE_BATCHES, /* the input written so far, in batches of 16 MiB */
	TENSOR_RELEASE_AT_END,  /* the whole input once the tensor is written (rows read out
				 * of order) */
};

struct tensor_slot {
	unsigned char *buf; /* chunk_rows output rows; NULL when the tensor is not buffered */
	const void *data;   /* what goes to the file: buf, or the mapping itself */
	size_t len;
	int ready;
};

struct tensor_chunks {
	const char *name;         /* for the progress */
	uint64_t size_out;        /* bytes of output, for the progress */
	const unsigned char *src; /* the mapped input (NULL: none) */
	size_t src_row;           /* bytes of an input row */
	size_t dst_row;           /* bytes of an output row */
	int64_t n_per_row, nrows;
	int buffered;          /* the slots get buffers of chunk_rows output rows */
	size_t scratch_floats; /* each worker's scratch (0: none) */
	enum tensor_release release;
	/* Fills s with rows [first, last) (s->data, s->len); MODL_E* with a message set. */
	int (*chunk)(void *ctx, int64_t first, int64_t last, struct tensor_slot *s, float *scratch);
	void *ctx;
};

/* Streams one tensor into s->writer (the progress told of its start, bytes and end). */
int tensor_stream_write(struct tensor_stream *s, const struct tensor_chunks *c);

/* Index of the first NaN or infinity in x, or -1. */
int64_t tensor_first_nonfinite(const float *x, int64_t n);

#endif
