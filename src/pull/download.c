#include "download.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/pool.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How a transfer is cut and retried. A chunk is the unit of parallelism, of retry and
 * of resume: its bytes are fetched with one Range request and written in place. */
#define DOWNLOAD_DEFAULT_CHUNK (8ull << 20)
#define DOWNLOAD_MIN_CHUNK (64ull << 10)
#define DOWNLOAD_HASH_BUFFER (1u << 20)
#define CHUNKS_MAGIC "modl-chunks 1"
/* The chunk map is brought up to date (data synced, then marks written) once per this
 * many written chunks: a sync per chunk would stall a connection per chunk, and a kill
 * costs at most this many chunks fetched again. */
#define MAP_SYNC_CHUNKS 8

enum chunk_state { CHUNK_PENDING, CHUNK_INFLIGHT, CHUNK_DONE, CHUNK_CANCELLED };
enum file_state { FILE_WAITING, FILE_PREPARING, FILE_ACTIVE, FILE_FINISHED };

struct dl_file {
	struct download_item *item;
	enum file_state state;
	char expected[HASH_HEX_BUF];
	enum hash_kind kind;
	int fd, lock_fd;
	char *url; /* current GET URL */
	unsigned url_generation;
	int cross_host; /* the URL is on another host (a CDN) */
	/* ranged transfer */
	int ranged;
	unsigned long long chunk_size;
	size_t chunk_count, next_chunk, hashed_chunks;
	unsigned char *chunks; /* enum chunk_state per chunk */
	int map_fd;            /* the on-disk chunk map (".chunks" beside the partial) */
	unsigned char *marked; /* per chunk: recorded as written in the map */
	size_t unmarked;       /* chunks written since the map was last brought up to date */
	size_t map_header;
	unsigned inflight;
	int hashing; /* a thread is hashing the done prefix */
	struct hasher *hasher;
	int verify_retried;
	int failed;
	unsigned fail_order; /* 1 for the first file that failed, 2 for the next... */
};

struct engine {
	struct download_job *job;
	struct dl_file *files;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	size_t next_file;
	unsigned active;
	unsigned failures;
	int abort; /* an authorisation failure or a hostile answer: no new file is started */
};

struct task {
	struct dl_file *file;
	int prepare; /* else: fetch chunk `chunk` */
	size_t chunk;
};

unsigned long long download_chunk_size(void)
{
	const char *v = getenv("MODL_CHUNK_BYTES");
	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		if (!*end && n >= DOWNLOAD_MIN_CHUNK)
			return n;
	}
	return DOWNLOAD_DEFAULT_CHUNK;
}

/* ---- failure bookkeeping ------------------------------------------------------------ */

/* Records the current thread's error on the file (the message is thread-local). */
static void file_fail(struct engine *e, struct dl_file *f, int code)
{
	pthread_mutex_lock(&e->lock);
	/* An authorisation failure would repeat for every file, and a hostile answer
	 * (MODL_EINVALID) says the server is not to be trusted with the rest either. */
	if (code == MODL_EAUTH || code == MODL_EINVALID)
		e->abort = 1;
	if (!f->failed) {
		f->failed = 1;
		f->fail_order = ++e->failures;
		modl_error_save(&f->item->error);
		f->item->error.code = code;
		/* No new chunk is handed out; those in flight finish or fail on their own. */
		for (size_t i = 0; i < f->chunk_count; i++)
			if (f->chunks[i] == CHUNK_PENDING)
				f->chunks[i] = CHUNK_CANCELLED;
	}
	pthread_mutex_unlock(&e->lock);
}

/* Under e->lock: a file whose work is over gives back its slot. */
static void file_release_locked(struct engine *e, struct dl_file *f, enum download_status status)
{
	f->state = FILE_FINISHED;
	f->item->status = f->failed ? DOWNLOAD_FAILED : status;
	if (f->fd >= 0)
		close(f->fd);
	if (f->map_fd >= 0)
		close(f->map_fd);
	f->fd = f->map_fd = -1;
	fs_unlock(f->lock_fd);
	f->lock_fd = -1;
	hasher_free(f->hasher);
	f->hasher = NULL;
	e->active--;
	pthread_cond_broadcast(&e->changed);
}

/* ---- the chunk map: which chunks of a partial file are already written -------------- */

static int chunk_map_path(const struct dl_file *f, struct strbuf *out)
{
	return strbuf_addf(out, "%s.chunks", f->item->partial_path);
}

static void chunk_map_header(const struct dl_file *f, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s %llu %llu\n", CHUNKS_MAGIC, f->expected, f->item->entry->size,
		 f->chunk_size);
}

/* Opens the map of a partial download. When it matches this file (hash, size, chunk
 * size) the chunks it records as written are kept; otherwise everything starts over. */
static int chunk_map_open(struct dl_file *f, unsigned long long *resumed)
{
	struct strbuf path = STRBUF_INIT;
	char header[160], *data = NULL;
	size_t len = 0;
	int rc = chunk_map_path(f, &path);
	*resumed = 0;
	if (rc)
		return rc;
	chunk_map_header(f, header, sizeof(header));
	f->map_header = strlen(header);
	size_t want = f->map_header + f->chunk_count;
	struct stat st;
	int reuse = fstat(f->fd, &st) == 0 && (unsigned long long)st.st_size == f->item->entry->size &&
		    fs_read_file(path.buf, want, &data, &len) == 0 && len == want &&
		    !memcmp(data, header, f->map_header);
	modl_error_clear();
	if (reuse) {
		for (size_t i = 0; i < f->chunk_count; i++)
			if (data[f->map_header + i] == '1') {
				f->chunks[i] = CHUNK_DONE;
				f->marked[i] = 1;
				unsigned long long start = i * f->chunk_size;
				unsigned long long end = start + f->chunk_size;
				*resumed += (end > f->item->entry->size ? f->item->entry->size : end) - start;
			}
	} else {
		/* Start over: the partial's bytes are not known to belong to this file. */
		if (ftruncate(f->fd, 0) != 0 || ftruncate(f->fd, (off_t)f->item->entry->size) != 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "%s", f->item->partial_path);
			goto out;
		}
		char *fresh = malloc(want);
		if (!fresh) {
			rc = modl_error_oom();
			goto out;
		}
		memcpy(fresh, header, f->map_header);
		memset(fresh + f->map_header, '0', f->chunk_count);
		rc = fs_write_atomic(path.buf, fresh, want, 0644);
		free(fresh);
		if (rc)
			goto out;
	}
	f->map_fd = open(path.buf, O_WRONLY | O_CLOEXEC);
	if (f->map_fd < 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot open %s", path.buf);
out:
	free(data);
	strbuf_free(&path);
	return rc;
}

/* Records the chunks in list as written. Their bytes reach the disk first (fdatasync),
 * so that the map never claims data a power loss would lose; the marks themselves are
 * not synced: a lost mark only costs a re-fetch of that chunk after a restart. */
static int chunk_map_mark(struct dl_file *f, const size_t *list, size_t n)
{
	if (f->map_fd < 0 || n == 0)
		return 0;
	if (fdatasync(f->fd) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "%s: cannot sync %s", f->item->entry->path,
					f->item->partial_path);
	for (size_t k = 0; k < n; k++)
		if (pwrite(f->map_fd, "1", 1, (off_t)(f->map_header + list[k])) != 1)
			break; /* as lost marks */
	return 0;
}

/* Chunk i is written (and still counted in flight, so that the file stays open): every
 * MAP_SYNC_CHUNKS chunks, this thread brings the map up to date with every chunk
 * written and not yet marked, i included. */
static int chunk_written(struct engine *e, struct dl_file *f, size_t i)
{
	size_t list[MAP_SYNC_CHUNKS * 4], n = 0;
	pthread_mutex_lock(&e->lock);
	if (++f->unmarked >= MAP_SYNC_CHUNKS) {
		f->unmarked = 0;
		list[n++] = i;
		for (size_t k = 0; k < f->chunk_count && n < sizeof(list) / sizeof(list[0]); k++)
			if (f->chunks[k] == CHUNK_DONE && !f->marked[k])
				list[n++] = k;
		for (size_t k = 0; k < n; k++)
			f->marked[list[k]] = 1;
	}
	pthread_mutex_unlock(&e->lock);
	return chunk_map_mark(f, list, n);
}

static void chunk_map_remove(struct dl_file *f)
{
	struct strbuf path = STRBUF_INIT;
	if (!chunk_map_path(f, &path))
		unlink(path.buf);
	strbuf_free(&path);
}

/* ---- writing bytes ----------------------------------------------------------------- */

struct part_io {
	struct engine *engine;
	struct dl_file *file;
	unsigned long long start, length, received;
	unsigned long long fetched; /* received over every try */
	int ranged;                 /* a Range was asked: only 206 with the exact Content-Range */
	int checked;
	unsigned generation; /* of the URL being tried */
	int cross_host;
	struct hasher **stream_hasher; /* whole-file transfers hash as the bytes arrive */
};

static int check_content_range(const struct part_io *io, const struct http_response *resp)
{
	const char *cr = http_response_header(resp, "Content-Range");
	unsigned long long a, b, total;
	char tail;
	if (resp->status != 206 || !cr || sscanf(cr, "bytes %llu-%llu/%llu%c", &a, &b, &total, &tail) != 3)
		return modl_error_set(MODL_ENET, "%s: asked for bytes %llu-%llu, got HTTP %ld %s",
				      io->file->item->entry->path, io->start, io->start + io->length - 1,
				      resp->status, cr ? cr : "");
	if (a != io->start || b != io->start + io->length - 1 || total != io->file->item->entry->size)
		return modl_error_set(MODL_ENET, "%s: asked for bytes %llu-%llu of %llu, got %s",
				      io->file->item->entry->path, io->start, io->start + io->length - 1,
				      io->file->item->entry->size, cr);
	return 0;
}

static int part_sink(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct part_io *io = ctx;
	if (!io->checked) {
		int rc = io->ranged            ? check_content_range(io, resp)
			 : resp->status == 200 ? 0
					       : modl_error_set(MODL_ENET, "%s: unexpected HTTP %ld",
								io->file->item->entry->path, resp->status);
		/* A body declared longer than asked for is hostile: refused before a byte. */
		const char *cl = http_response_header(resp, "Content-Length");
		if (!rc && cl && strtoull(cl, NULL, 10) > io->length)
			rc = modl_error_set(MODL_EINVALID,
					    "%s: the server announced %s bytes where "
					    "%llu were expected",
					    io->file->item->entry->path, cl, io->length);
		if (rc)
			return rc;
		io->checked = 1;
	}
	/* A server that sends more than the listed size is cut off, never believed. */
	if (len > io->length - io->received)
		return modl_error_set(MODL_EINVALID, "%s: the server sent more than %llu bytes",
				      io->file->item->entry->path, io->length);
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(io->file->fd, (const char *)data + done, len - done,
				   (off_t)(io->start + io->received + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return modl_error_errno(MODL_EFAIL, errno, "%s: cannot write %s",
						io->file->item->entry->path, io->file->item->partial_path);
		done += (size_t)n;
	}
	if (io->stream_hasher && hasher_update(*io->stream_hasher, data, len))
		return MODL_EFAIL;
	io->received += len;
	io->fetched += len;
	progress_add_bytes(io->engine->job->progress, len);
	return 0;
}

/* Judges a part's answer for http_perform, which decides on retries: a short body or
 * an error status is worth another try, a refusal from the file host (a CDN) means an
 * expired signed URL. Wrong ranges and hostile answers are caught by part_sink. */
static int part_judge(void *ctx, const struct http_response *resp)
{
	struct part_io *io = ctx;
	const char *path = io->file->item->entry->path;
	if (io->checked && io->received == io->length)
		return 0;
	if (io->checked)
		return modl_error_set(MODL_ENET, "%s: the transfer ended after %llu of %llu bytes", path,
				      io->received, io->length);
	if (resp->status == 403 && io->cross_host) {
		modl_error_set(MODL_ENET, "%s: the download URL was refused (expired?)", path);
		return HTTP_JUDGE_EXPIRED;
	}
	return modl_error_set(MODL_ENET, "%s: HTTP %ld from %s", path, resp->status,
			      io->cross_host ? "the file host" : "the Hub");
}

/* Before another try: the part is written again from its start (in place), and a
 * whole-file transfer hashes again from byte 0. */
static int part_restart(void *ctx)
{
	struct part_io *io = ctx;
	struct dl_file *f = io->file;
	int rc = 0;
	if (io->stream_hasher && io->received) {
		hasher_free(*io->stream_hasher);
		*io->stream_hasher = NULL;
		rc = hasher_new(io->stream_hasher, f->kind, f->item->entry->size);
	}
	io->received = 0;
	io->checked = 0;
	return rc;
}

/* An expired signed URL: asks the Hub for a fresh one (once per expiry, whichever part
 * notices first) and tries the file's current URL. A failed HEAD leaves the URL as it
 * is: the next try fails again and the retries run out. */
static int part_refresh(void *ctx, char **url)
{
	struct part_io *io = ctx;
	struct engine *e = io->engine;
	struct dl_file *f = io->file;
	struct hub_file_meta meta;
	pthread_mutex_lock(&e->lock);
	int stale = io->generation == f->url_generation;
	pthread_mutex_unlock(&e->lock);
	if (stale &&
	    hub_file_metadata(e->job->hub, e->job->repo, e->job->commit, f->item->entry->path, &meta) == 0) {
		pthread_mutex_lock(&e->lock);
		if (io->generation == f->url_generation) {
			free(f->url);
			f->url = meta.location;
			meta.location = NULL;
			f->url_generation++;
		}
		pthread_mutex_unlock(&e->lock);
		hub_file_meta_free(&meta);
	}
	pthread_mutex_lock(&e->lock);
	char *fresh = strdup(f->url);
	io->generation = f->url_generation;
	pthread_mutex_unlock(&e->lock);
	if (!fresh)
		return modl_error_oom();
	free(*url);
	*url = fresh;
	return 0;
}

/* Fetches [start, start+length) of the file into place. http_perform retries it (network
 * failures, wrong answers, expired CDN URLs) at most MODL_MAX_RETRIES times. */
static int fetch_part(struct engine *e, struct dl_file *f, unsigned long long start,
		      unsigned long long length, int ranged, struct hasher **stream_hasher)
{
	struct part_io io = { .engine = e,
			      .file = f,
			      .start = start,
			      .length = length,
			      .ranged = ranged,
			      .stream_hasher = stream_hasher };
	struct http_response resp;
	pthread_mutex_lock(&e->lock);
	char *url = strdup(f->url);
	io.generation = f->url_generation;
	io.cross_host = f->cross_host;
	pthread_mutex_unlock(&e->lock);
	if (!url)
		return modl_error_oom();
	struct http_request req = {
		.method = "GET",
		.url = url,
		.range_start = ranged ? (long long)start : -1,
		.range_end = ranged ? (long long)(start + length - 1) : -1,
		.redirects = HTTP_REDIRECT_ALL,
		.identity = 1,
		.sink = part_sink,
		.sink_ctx = &io,
		.restart = part_restart,
		.judge = part_judge,
		.refresh = part_refresh,
	};
	http_response_init(&resp);
	int rc = http_perform(hub_http(e->job->hub), &req, &resp);
	pthread_mutex_lock(&e->lock);
	f->item->fetched_bytes += io.fetched;
	pthread_mutex_unlock(&e->lock);
	http_response_free(&resp);
	free(url);
	return rc;
}

/* ---- verification and the final rename ---------------------------------------------- */

static int verify_mismatch(struct dl_file *f, const char *actual)
{
	return modl_error_set(MODL_EINTEGRITY, "%s: %s mismatch: expected %s, got %s", f->item->entry->path,
			      f->kind == HASH_SHA256 ? "sha256" : "git sha1", f->expected, actual);
}

/* The file is complete and its hash is actual: make it visible, or report. */
static int commit_file(struct dl_file *f, const char *actual)
{
	struct strbuf dir = STRBUF_INIT;
	int rc = 0;
	if (strcmp(actual, f->expected))
		return verify_mismatch(f, actual);
	if (fsync(f->fd) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot sync %s", f->item->partial_path);
	if ((rc = fs_parent_dir(f->item->final_path, &dir)) || (rc = fs_mkdir_p(dir.buf, 0755)))
		goto out;
	if (rename(f->item->partial_path, f->item->final_path) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot rename %s to %s", f->item->partial_path,
				      f->item->final_path);
		goto out;
	}
	chunk_map_remove(f);
	rc = fs_sync_dir(dir.buf);
out:
	strbuf_free(&dir);
	return rc;
}

/* Restarts a ranged file from scratch after a failed verification. All its chunks are
 * done and none is in flight, so only this thread touches the file until the chunks are
 * handed out again at the end. */
static int restart_ranged(struct engine *e, struct dl_file *f)
{
	unsigned long long resumed;
	chunk_map_remove(f);
	if (f->map_fd >= 0)
		close(f->map_fd);
	f->map_fd = -1;
	hasher_free(f->hasher);
	f->hasher = NULL;
	int rc = hasher_new(&f->hasher, f->kind, f->item->entry->size);
	if (!rc && ftruncate(f->fd, 0) != 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "%s", f->item->partial_path);
	if (!rc)
		rc = chunk_map_open(f, &resumed);
	if (!rc) {
		pthread_mutex_lock(&e->lock);
		memset(f->chunks, CHUNK_PENDING, f->chunk_count);
		memset(f->marked, 0, f->chunk_count);
		f->unmarked = 0;
		f->next_chunk = f->hashed_chunks = 0;
		pthread_mutex_unlock(&e->lock);
	}
	return rc;
}

/* Feeds chunk i of a ranged file (already on disk) to its hasher. */
static int hash_chunk(struct dl_file *f, size_t i, char **buf)
{
	unsigned long long off = i * f->chunk_size, end = off + f->chunk_size;
	if (end > f->item->entry->size)
		end = f->item->entry->size;
	if (!*buf && !(*buf = malloc(DOWNLOAD_HASH_BUFFER)))
		return modl_error_oom();
	while (off < end) {
		size_t want = end - off < DOWNLOAD_HASH_BUFFER ? (size_t)(end - off) : DOWNLOAD_HASH_BUFFER;
		ssize_t n = pread(f->fd, *buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return modl_error_errno(MODL_EFAIL, n < 0 ? errno : EIO, "cannot read %s",
						f->item->partial_path);
		int rc = hasher_update(f->hasher, *buf, (size_t)n);
		if (rc)
			return rc;
		off += (unsigned long long)n;
	}
	return 0;
}

/* A fetched file's end: handed to the caller while its lock is held (on_ready), counted
 * done, and released. rc: how the fetch and the verification went. */
static void file_finish(struct engine *e, struct dl_file *f, int rc)
{
	if (!rc && e->job->on_ready)
		rc = e->job->on_ready(e->job->ready_ctx, f->item);
	if (rc)
		file_fail(e, f, rc);
	else
		progress_file_done(e->job->progress, f->item->entry->path, f->item->entry->size, 0);
	pthread_mutex_lock(&e->lock);
	f->hashing = 0;
	file_release_locked(e, f, DOWNLOAD_FETCHED);
	pthread_mutex_unlock(&e->lock);
}

/* Every chunk is written and hashed: verify, then commit, or start over once. Called by
 * the hashing thread, which still holds f->hashing. */
static void finish_ranged(struct engine *e, struct dl_file *f)
{
	char actual[HASH_HEX_BUF];
	struct hasher *h = f->hasher;
	f->hasher = NULL;
	int rc = hasher_finish(h, actual);
	if (!rc)
		rc = commit_file(f, actual);
	if (rc == MODL_EINTEGRITY && !f->verify_retried) {
		/* Once more from scratch: a resumed partial may hold stale bytes. */
		progress_note(e->job->progress, "modl: %s; downloading it again", modl_error_message());
		f->verify_retried = 1;
		rc = restart_ranged(e, f);
		if (rc)
			file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		f->hashing = 0;
		if (rc && f->inflight == 0)
			file_release_locked(e, f, DOWNLOAD_FAILED);
		pthread_cond_broadcast(&e->changed);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	file_finish(e, f, rc);
}

/* Hashes the written prefix of a ranged file as far as it reaches; the thread that hashes
 * the last chunk verifies and commits. One thread hashes a file at a time; a chunk that
 * completes meanwhile is picked up by that thread, because it re-checks (and gives up
 * the role) under the same lock that marks chunks done. */
static void hash_prefix(struct engine *e, struct dl_file *f)
{
	char *buf = NULL;
	pthread_mutex_lock(&e->lock);
	if (f->hashing || f->failed || f->state != FILE_ACTIVE) {
		pthread_mutex_unlock(&e->lock);
		return;
	}
	f->hashing = 1;
	while (!f->failed && f->hashed_chunks < f->chunk_count && f->chunks[f->hashed_chunks] == CHUNK_DONE) {
		size_t i = f->hashed_chunks;
		pthread_mutex_unlock(&e->lock);
		int rc = hash_chunk(f, i, &buf);
		if (rc)
			file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		if (!rc)
			f->hashed_chunks++;
	}
	int complete = !f->failed && f->hashed_chunks == f->chunk_count;
	if (!complete) {
		f->hashing = 0;
		if (f->failed && f->inflight == 0)
			file_release_locked(e, f, DOWNLOAD_FAILED);
	}
	pthread_mutex_unlock(&e->lock);
	free(buf);
	if (complete)
		finish_ranged(e, f);
}

/* ---- preparing a file: lock, metadata, partial, chunk map ------------------------------ */

static int open_partial(struct dl_file *f)
{
	struct strbuf dir = STRBUF_INIT;
	int rc = fs_parent_dir(f->item->partial_path, &dir);
	if (!rc)
		rc = fs_mkdir_p(dir.buf, 0755);
	strbuf_free(&dir);
	if (rc)
		return rc;
	f->fd = open(f->item->partial_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot open %s", f->item->partial_path);
	return 0;
}

static int final_present(const struct dl_file *f)
{
	struct stat st;
	return lstat(f->item->final_path, &st) == 0 && S_ISREG(st.st_mode) &&
	       (unsigned long long)st.st_size == f->item->entry->size;
}

/* Checks what the Hub says of the file against the listing it came from. */
static int check_metadata(struct engine *e, struct dl_file *f, const struct hub_file_meta *meta)
{
	const char *path = f->item->entry->path;
	if (strcmp(meta->commit, e->job->commit))
		return modl_error_set(MODL_EINVALID, "%s: the Hub answered for commit %s, not %s", path,
				      meta->commit, e->job->commit);
	if (strcmp(meta->etag, f->expected))
		return modl_error_set(MODL_EINTEGRITY,
				      "%s: the Hub's ETag %s differs from the "
				      "listed hash %s",
				      path, meta->etag, f->expected);
	if (meta->size != f->item->entry->size)
		return modl_error_set(MODL_EINTEGRITY,
				      "%s: the Hub's size %llu differs from the "
				      "listed size %llu",
				      path, meta->size, f->item->entry->size);
	return 0;
}

static void run_whole(struct engine *e, struct dl_file *f)
{
	struct hasher *h = NULL;
	char actual[HASH_HEX_BUF];
	int rc = 0;
	for (int pass = 0; pass < 2; pass++) {
		if ((rc = hasher_new(&h, f->kind, f->item->entry->size)))
			break;
		if (ftruncate(f->fd, 0) != 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "%s", f->item->partial_path);
			break;
		}
		rc = f->item->entry->size ? fetch_part(e, f, 0, f->item->entry->size, 0, &h) : 0;
		if (!rc) {
			rc = hasher_finish(h, actual);
			h = NULL;
		}
		if (!rc)
			rc = commit_file(f, actual);
		hasher_free(h);
		h = NULL;
		if (rc != MODL_EINTEGRITY || pass == 1)
			break;
		progress_note(e->job->progress, "modl: %s; downloading it again", modl_error_message());
	}
	file_finish(e, f, rc);
}

static void run_prepare(struct engine *e, struct dl_file *f)
{
	struct hub_file_meta meta;
	unsigned long long resumed = 0;
	struct strbuf lock_dir = STRBUF_INIT;
	int rc = fs_parent_dir(f->item->lock_path, &lock_dir);
	if (!rc)
		rc = fs_mkdir_p(lock_dir.buf, 0755);
	strbuf_free(&lock_dir);
	if (!rc)
		rc = fs_lock_reader(f->item->lock_path, 0, &f->lock_fd);
	memset(&meta, 0, sizeof(meta));
	progress_file_start(e->job->progress, f->item->entry->path);
	/* Another process may have finished it while we waited for the lock. */
	if (!rc && !e->job->force && final_present(f)) {
		rc = e->job->on_ready ? e->job->on_ready(e->job->ready_ctx, f->item) : 0;
		if (rc)
			file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		progress_file_done(e->job->progress, f->item->entry->path, f->item->entry->size, 1);
		file_release_locked(e, f, DOWNLOAD_PRESENT);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (!rc)
		rc = hub_file_metadata(e->job->hub, e->job->repo, e->job->commit, f->item->entry->path,
				       &meta);
	if (!rc)
		rc = check_metadata(e, f, &meta);
	if (!rc)
		rc = open_partial(f);
	if (rc) {
		hub_file_meta_free(&meta);
		file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		file_release_locked(e, f, DOWNLOAD_FAILED);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	f->url = meta.location;
	meta.location = NULL;
	f->cross_host = !http_same_origin(f->url, hub_endpoint(e->job->hub));
	f->chunk_size = download_chunk_size();
	f->ranged = meta.ranges && f->item->entry->size > f->chunk_size;
	if (!f->ranged) {
		run_whole(e, f);
		return;
	}
	f->chunk_count = (size_t)((f->item->entry->size + f->chunk_size - 1) / f->chunk_size);
	f->chunks = calloc(f->chunk_count, 1);
	f->marked = calloc(f->chunk_count, 1);
	rc = f->chunks && f->marked ? 0 : modl_error_oom();
	if (!rc)
		rc = chunk_map_open(f, &resumed);
	if (!rc)
		rc = hasher_new(&f->hasher, f->kind, f->item->entry->size);
	if (rc) {
		file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		file_release_locked(e, f, DOWNLOAD_FAILED);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (resumed) {
		progress_note(e->job->progress, "resuming %s: %llu of %llu bytes already here",
			      f->item->entry->path, resumed, f->item->entry->size);
		progress_add_bytes(e->job->progress, resumed);
	}
	pthread_mutex_lock(&e->lock);
	f->state = FILE_ACTIVE;
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
	hash_prefix(e, f); /* chunks resumed from disk are verified as part of the whole */
}

static void run_chunk(struct engine *e, struct dl_file *f, size_t i)
{
	unsigned long long start = i * f->chunk_size, length = f->chunk_size;
	if (start + length > f->item->entry->size)
		length = f->item->entry->size - start;
	int rc = fetch_part(e, f, start, length, 1, NULL);
	if (!rc)
		rc = chunk_written(e, f, i);
	if (rc) {
		file_fail(e, f, rc);
		pthread_mutex_lock(&e->lock);
		f->inflight--;
		f->chunks[i] = CHUNK_CANCELLED;
		if (f->inflight == 0 && !f->hashing && f->state == FILE_ACTIVE)
			file_release_locked(e, f, DOWNLOAD_FAILED);
		pthread_cond_broadcast(&e->changed);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	pthread_mutex_lock(&e->lock);
	f->chunks[i] = CHUNK_DONE;
	f->inflight--;
	int release = f->failed && f->inflight == 0 && !f->hashing && f->state == FILE_ACTIVE;
	if (release)
		file_release_locked(e, f, DOWNLOAD_FAILED);
	pthread_mutex_unlock(&e->lock);
	if (!release)
		hash_prefix(e, f);
}

/* ---- scheduling ---------------------------------------------------------------------- */

/* Under e->lock: the next piece of work, favouring chunks of files already started (so
 * that files finish in order) over starting a new file. */
static int pick_task(struct engine *e, struct task *t)
{
	struct download_job *job = e->job;
	for (size_t k = 0; k < e->next_file; k++) {
		struct dl_file *f = &e->files[k];
		if (f->state != FILE_ACTIVE || f->failed || f->inflight >= job->connections)
			continue;
		while (f->next_chunk < f->chunk_count && f->chunks[f->next_chunk] != CHUNK_PENDING)
			f->next_chunk++;
		if (f->next_chunk == f->chunk_count) {
			/* a restart after a failed verification rewinds next_chunk */
			continue;
		}
		t->file = f;
		t->prepare = 0;
		t->chunk = f->next_chunk;
		f->chunks[t->chunk] = CHUNK_INFLIGHT;
		f->inflight++;
		return 1;
	}
	while (!e->abort && e->next_file < job->count && e->active < job->jobs) {
		struct dl_file *f = &e->files[e->next_file++];
		if (f->item->present && !job->on_ready) {
			f->state = FILE_FINISHED;
			f->item->status = DOWNLOAD_PRESENT;
			progress_file_done(job->progress, f->item->entry->path, f->item->entry->size, 1);
			continue;
		}
		f->state = FILE_PREPARING;
		e->active++;
		t->file = f;
		t->prepare = 1;
		return 1;
	}
	return 0;
}

static void worker(void *ctx, unsigned index)
{
	(void)index;
	struct engine *e = ctx;
	struct task t;
	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (pick_task(e, &t)) {
			pthread_mutex_unlock(&e->lock);
			if (t.prepare)
				run_prepare(e, t.file);
			else
				run_chunk(e, t.file, t.chunk);
			pthread_mutex_lock(&e->lock);
			continue;
		}
		if ((e->next_file == e->job->count || e->abort) && e->active == 0)
			break;
		pthread_cond_wait(&e->changed, &e->lock);
	}
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
}

int download_run(struct download_job *job)
{
	struct engine e = { .job = job };
	unsigned long long total = 0;
	int rc = 0;
	if (job->jobs == 0)
		job->jobs = 1;
	if (job->connections == 0)
		job->connections = 1;
	e.files = calloc(job->count ? job->count : 1, sizeof(*e.files));
	if (!e.files)
		return modl_error_oom();
	for (size_t i = 0; i < job->count; i++) {
		struct dl_file *f = &e.files[i];
		const struct hub_entry *entry = job->items[i].entry;
		f->item = &job->items[i];
		f->fd = f->lock_fd = f->map_fd = -1;
		f->kind = entry->lfs ? HASH_SHA256 : HASH_GIT_SHA1;
		snprintf(f->expected, sizeof(f->expected), "%s", entry->lfs ? entry->sha256 : entry->oid);
		f->item->status = DOWNLOAD_PENDING;
		total += entry->size;
	}
	progress_set_total(job->progress, total, (unsigned)job->count);
	pthread_mutex_init(&e.lock, NULL);
	pthread_cond_init(&e.changed, NULL);
	unsigned threads = job->jobs > job->connections ? job->jobs : job->connections;
	rc = pool_run(threads, worker, &e);

	size_t failed = 0, first = 0;
	for (size_t i = 0; i < job->count; i++) {
		free(e.files[i].url);
		free(e.files[i].chunks);
		free(e.files[i].marked);
		if (job->items[i].status != DOWNLOAD_FAILED)
			continue;
		if (failed++ == 0 ||
		    (e.files[i].fail_order && e.files[i].fail_order < e.files[first].fail_order))
			first = i;
	}
	pthread_mutex_destroy(&e.lock);
	pthread_cond_destroy(&e.changed);
	free(e.files);
	if (!rc && failed == 1)
		rc = modl_error_restore(&job->items[first].error);
	else if (!rc && failed > 1)
		rc = modl_error_set(job->items[first].error.code, "%zu of %zu files failed; first: %s",
				    failed, job->count, job->items[first].error.message);
	return rc;
}
