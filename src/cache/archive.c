#include "archive.h"
#include "cache.h"
#include "cache_scan.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ARCHIVE_CHUNK (1u << 20)
#define ARCHIVE_MANIFEST_MAX (64u << 20)
#define ARCHIVE_REF_MAX 64

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* ====================================================================================
 * export
 * ==================================================================================== */

static int write_error(struct archive *a, const char *output)
{
	const char *name = strcmp(output, "-") ? output : "standard output";
	int e = archive_errno(a);
	/* libarchive says only "Write error" when write(2) fails: the reason is its errno
	 * (a full disk, a closed pipe). EILSEQ and EINVAL are its own codes for a format or
	 * a usage problem (ARCHIVE_ERRNO_FILE_FORMAT, _PROGRAMMER), whose text says more. */
	if (e > 0 && e != EILSEQ && e != EINVAL)
		return modl_error_errno(MODL_EFAIL, e, "cannot write %s", name);
	return modl_error_set(MODL_EFAIL, "%s: %s", name, archive_error_string(a));
}

static int add_entry(struct archive *a, const char *output, const char *path, mode_t type, mode_t perm,
		     la_int64_t size, const char *link_target, time_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return modl_error_oom();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, mtime, 0);
	if (link_target)
		archive_entry_set_symlink(e, link_target);
	int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : write_error(a, output);
	archive_entry_free(e);
	return rc;
}

static int add_file(struct archive *a, const char *output, const char *archive_path, const char *disk_path)
{
	struct stat st;
	int fd = open(disk_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return modl_error_errno(MODL_EFAIL, e, "cannot read %s", disk_path);
	}
	int rc = add_entry(a, output, archive_path, AE_IFREG, 0644, st.st_size, NULL, st.st_mtime);
	char *buf = rc ? NULL : malloc(ARCHIVE_CHUNK);
	if (!rc && !buf)
		rc = modl_error_oom();
	for (long long left = st.st_size; !rc && left > 0;) {
		ssize_t n = read(fd, buf, ARCHIVE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = modl_error_errno(MODL_EFAIL, n < 0 ? errno : EIO, "cannot read %s", disk_path);
			break;
		}
		if (archive_write_data(a, buf, (size_t)n) != n)
			rc = write_error(a, output);
		left -= n;
	}
	free(buf);
	close(fd);
	return rc;
}

static cJSON *export_manifest(const struct cache_entry *e, const unsigned char *chosen,
			      const unsigned char *used)
{
	cJSON *doc = cJSON_CreateObject(), *revs, *blobs;
	cJSON_AddStringToObject(doc, "format", "modl-cache-export");
	cJSON_AddNumberToObject(doc, "version", 1);
	cJSON_AddStringToObject(doc, "repo", e->id);
	cJSON_AddStringToObject(doc, "type", hub_repo_type_name(e->type));
	cJSON_AddStringToObject(doc, "folder", e->folder_name);
	revs = cJSON_AddArrayToObject(doc, "revisions");
	for (size_t i = 0; i < e->revision_count; i++) {
		const struct cache_revision *r = &e->revisions[i];
		if (!chosen[i])
			continue;
		cJSON *rev = cJSON_CreateObject(), *refs, *files;
		cJSON_AddItemToArray(revs, rev);
		cJSON_AddStringToObject(rev, "commit", r->commit);
		refs = cJSON_AddArrayToObject(rev, "refs");
		for (size_t k = 0; k < r->ref_count; k++)
			cJSON_AddItemToArray(refs, cJSON_CreateString(r->refs[k]));
		files = cJSON_AddArrayToObject(rev, "files");
		for (size_t k = 0; k < r->file_count; k++) {
			const struct cache_file *f = &r->files[k];
			if (f->blob < 0)
				continue; /* plain files have no hash to be checked against: not exported */
			cJSON *file = cJSON_CreateObject();
			cJSON_AddStringToObject(file, "path", f->path);
			cJSON_AddNumberToObject(file, "size", (double)f->size);
			cJSON_AddStringToObject(file, "blob", e->blobs[f->blob].name);
			cJSON_AddItemToArray(files, file);
		}
	}
	blobs = cJSON_AddArrayToObject(doc, "blobs");
	for (size_t b = 0; b < e->blob_count; b++) {
		if (!used[b])
			continue;
		cJSON *blob = cJSON_CreateObject();
		cJSON_AddStringToObject(blob, "name", e->blobs[b].name);
		cJSON_AddNumberToObject(blob, "size", (double)e->blobs[b].size);
		cJSON_AddItemToArray(blobs, blob);
	}
	return doc;
}

static int open_writer(struct archive **out, const char *output, const char *target)
{
	struct archive *a = archive_write_new();
	int rc = 0;
	if (!a)
		return modl_error_oom();
	archive_write_set_format_pax_restricted(a);
	if (ends_with(output, ".tar.gz") || ends_with(output, ".tgz"))
		rc = archive_write_add_filter_gzip(a);
	else if (ends_with(output, ".tar.zst"))
		rc = archive_write_add_filter_zstd(a);
	else if (strcmp(output, "-") && !ends_with(output, ".tar"))
		rc = ARCHIVE_FATAL + 1000;
	if (rc == ARCHIVE_FATAL + 1000) {
		archive_write_free(a);
		return modl_error_set(MODL_EUSAGE,
				      "%s: the bundle name must end in .tar, .tar.gz or .tar.zst", output);
	}
	if (rc != ARCHIVE_OK ||
	    archive_write_open_filename(a, strcmp(output, "-") ? target : NULL) != ARCHIVE_OK) {
		rc = write_error(a, output);
		archive_write_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

static int export_entries(struct archive *a, const char *output, const struct cache_entry *e,
			  const unsigned char *chosen, const unsigned char *used, struct archive_summary *s)
{
	struct strbuf ap = STRBUF_INIT, disk = STRBUF_INIT, target = STRBUF_INIT;
	cJSON *manifest = export_manifest(e, chosen, used);
	char *text = manifest ? cJSON_Print(manifest) : NULL;
	time_t now = time(NULL);
	int rc = text ? 0 : modl_error_oom();
	/* The manifest comes first, so that an importer can check every entry as it comes. */
	if (!rc)
		rc = add_entry(a, output, ARCHIVE_MANIFEST_NAME, AE_IFREG, 0644, (la_int64_t)strlen(text),
			       NULL, now);
	if (!rc && archive_write_data(a, text, strlen(text)) != (la_ssize_t)strlen(text))
		rc = write_error(a, output);
	for (size_t b = 0; !rc && b < e->blob_count; b++) {
		if (!used[b])
			continue;
		strbuf_reset(&ap);
		strbuf_reset(&disk);
		strbuf_addf(&ap, "%s/blobs/%s", e->folder_name, e->blobs[b].name);
		strbuf_addf(&disk, "%s/blobs/%s", e->folder, e->blobs[b].name);
		rc = add_file(a, output, ap.buf, disk.buf);
		s->blobs++;
		s->bytes += e->blobs[b].size;
	}
	for (size_t i = 0; !rc && i < e->revision_count; i++) {
		const struct cache_revision *r = &e->revisions[i];
		if (!chosen[i])
			continue;
		s->revisions++;
		for (size_t k = 0; !rc && k < r->file_count; k++) {
			const struct cache_file *f = &r->files[k];
			if (f->blob < 0)
				continue;
			strbuf_reset(&ap);
			strbuf_reset(&target);
			strbuf_addf(&ap, "%s/snapshots/%s/%s", e->folder_name, r->commit, f->path);
			for (const char *p = f->path; *p; p++)
				if (*p == '/')
					strbuf_adds(&target, "../");
			strbuf_addf(&target, "../../blobs/%s", e->blobs[f->blob].name);
			rc = add_entry(a, output, ap.buf, AE_IFLNK, 0777, 0, target.buf, now);
			s->files++;
		}
		for (size_t k = 0; !rc && k < r->ref_count; k++) {
			strbuf_reset(&ap);
			strbuf_addf(&ap, "%s/refs/%s", e->folder_name, r->refs[k]);
			rc = add_entry(a, output, ap.buf, AE_IFREG, 0644, HASH_SHA1_HEX, NULL, now);
			if (!rc && archive_write_data(a, r->commit, HASH_SHA1_HEX) != HASH_SHA1_HEX)
				rc = write_error(a, output);
		}
	}
	free(text);
	cJSON_Delete(manifest);
	strbuf_free(&ap);
	strbuf_free(&disk);
	strbuf_free(&target);
	return rc;
}

int archive_export(const char *hub_cache, const struct hub_repo *repo, const char *output,
		   struct archive_summary *s)
{
	struct cache_scan scan;
	struct archive *a = NULL;
	struct strbuf tmp = STRBUF_INIT;
	unsigned char *chosen = NULL, *used = NULL;
	memset(s, 0, sizeof(*s));
	int rc = cache_scan_one(hub_cache, repo, &scan);
	if (rc)
		return rc;
	const struct cache_entry *e = &scan.repos[0];
	snprintf(s->repo, sizeof(s->repo), "%s", e->id);
	s->type = e->type;
	chosen = calloc(e->revision_count + 1, 1);
	used = calloc(e->blob_count + 1, 1);
	if (!chosen || !used) {
		rc = modl_error_oom();
		goto out;
	}
	if (repo->revision[0]) {
		const struct cache_revision *r = cache_entry_revision(e, repo->revision);
		if (!r) {
			rc = modl_error_set(MODL_ENOTFOUND, "revision %s of %s is not in the cache",
					    repo->revision, repo->id);
			goto out;
		}
		chosen[r - e->revisions] = 1;
	} else {
		memset(chosen, 1, e->revision_count);
	}
	if (e->revision_count == 0) {
		rc = modl_error_set(MODL_ENOTFOUND, "%s has no snapshot in the cache", repo->id);
		goto out;
	}
	for (size_t i = 0; i < e->revision_count; i++)
		for (size_t k = 0; chosen[i] && k < e->revisions[i].file_count; k++)
			if (e->revisions[i].files[k].blob >= 0)
				used[e->revisions[i].files[k].blob] = 1;
	int to_stdout = !strcmp(output, "-");
	if (!to_stdout && (rc = strbuf_addf(&tmp, "%s.tmp.%ld", output, (long)getpid())))
		goto out;
	if ((rc = open_writer(&a, output, to_stdout ? NULL : tmp.buf)))
		goto out;
	rc = export_entries(a, output, e, chosen, used, s);
	if (archive_write_close(a) != ARCHIVE_OK && !rc)
		rc = write_error(a, output);
	archive_write_free(a);
	if (!to_stdout && !rc && rename(tmp.buf, output) != 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", output);
	if (!to_stdout && rc)
		unlink(tmp.buf);
out:
	free(chosen);
	free(used);
	strbuf_free(&tmp);
	cache_scan_free(&scan);
	return rc;
}

/* ====================================================================================
 * import
 * ==================================================================================== */

struct manifest_blob {
	const char *name;
	unsigned long long size;
	int seen;
};

struct manifest_file {
	const char *commit, *path, *blob;
	int seen;
};

struct manifest_ref {
	const char *name, *commit;
};

struct import_state {
	const char *input;
	cJSON *doc;
	struct hub_repo repo;
	const char *folder;
	/* Each sorted once (blobs by name, files by commit and path, refs by name), so that
	 * every lookup is a binary search: n log n in the manifest whatever names a hostile
	 * bundle picks. */
	struct manifest_blob *blobs;
	size_t blob_count;
	struct manifest_file *files;
	size_t file_count;
	struct manifest_ref *refs;
	size_t ref_count;
	char *staging; /* <cache>/.modl-import-XXXXXX/<folder> */
	char *staging_root;
	int lock_fd; /* flock on staging_root for as long as this import lives */
	int space_checked;
};

static int bad(const struct import_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const struct import_state *st, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (!rc)
		rc = modl_error_set(MODL_EINVALID, "%s: %s", st->input, msg.buf);
	strbuf_free(&msg);
	return rc;
}

static const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_size(const cJSON *o, const char *key, unsigned long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
	    v->valuedouble != (double)(unsigned long long)v->valuedouble)
		return -1;
	*out = (unsigned long long)v->valuedouble;
	return 0;
}

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct manifest_blob *)a)->name, ((const struct manifest_blob *)b)->name);
}

static int file_cmp(const void *a, const void *b)
{
	const struct manifest_file *x = a, *y = b;
	int c = strcmp(x->commit, y->commit);
	return c ? c : strcmp(x->path, y->path);
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct manifest_ref *)a)->name, ((const struct manifest_ref *)b)->name);
}

static struct manifest_blob *find_blob(struct import_state *st, const char *name)
{
	struct manifest_blob key = { .name = name };
	return bsearch(&key, st->blobs, st->blob_count, sizeof(key), blob_cmp);
}

static struct manifest_file *find_file(struct import_state *st, const char *commit, const char *path)
{
	struct manifest_file key = { .commit = commit, .path = path };
	return bsearch(&key, st->files, st->file_count, sizeof(key), file_cmp);
}

/* The manifest decides the refs; a ref entry in the bundle must agree with it. */
static const char *manifest_ref(const struct import_state *st, const char *name)
{
	struct manifest_ref key = { .name = name };
	const struct manifest_ref *r = bsearch(&key, st->refs, st->ref_count, sizeof(key), ref_cmp);
	return r ? r->commit : NULL;
}

static int collect_blobs(struct import_state *st, const cJSON *blobs)
{
	const cJSON *b;
	st->blobs = calloc((size_t)cJSON_GetArraySize(blobs) + 1, sizeof(*st->blobs));
	if (!st->blobs)
		return modl_error_oom();
	cJSON_ArrayForEach(b, blobs)
	{
		struct manifest_blob *mb = &st->blobs[st->blob_count];
		mb->name = json_string(b, "name");
		if (!mb->name || hash_kind_of(mb->name) < 0 || json_size(b, "size", &mb->size))
			return bad(st, "the manifest lists a blob without a valid name and size");
		st->blob_count++;
	}
	qsort(st->blobs, st->blob_count, sizeof(*st->blobs), blob_cmp);
	for (size_t i = 1; i < st->blob_count; i++)
		if (!blob_cmp(&st->blobs[i - 1], &st->blobs[i]))
			return bad(st, "the manifest lists blob %s twice", st->blobs[i].name);
	return 0;
}

/* Every revision's refs and files; the blobs must be collected (and sorted) first. */
static int collect_revisions(struct import_state *st, const cJSON *revs)
{
	const cJSON *rev, *f, *ref;
	size_t nfiles = 0, nrefs = 0;
	cJSON_ArrayForEach(rev, revs)
	{
		nfiles += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rev, "files"));
		nrefs += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rev, "refs"));
	}
	st->files = calloc(nfiles + 1, sizeof(*st->files));
	st->refs = calloc(nrefs + 1, sizeof(*st->refs));
	if (!st->files || !st->refs)
		return modl_error_oom();
	cJSON_ArrayForEach(rev, revs)
	{
		const char *commit = json_string(rev, "commit");
		if (!commit || !hub_is_commit(commit))
			return bad(st, "the manifest lists a revision without a commit id");
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(rev, "refs"))
		{
			if (!cJSON_IsString(ref) || !hub_path_is_safe(ref->valuestring) ||
			    st->ref_count >= nrefs)
				return bad(st, "the manifest lists an invalid ref");
			st->refs[st->ref_count++] = (struct manifest_ref){ ref->valuestring, commit };
		}
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(rev, "files"))
		{
			if (st->file_count >= nfiles)
				return bad(st, "the manifest lists an invalid file");
			struct manifest_file *mf = &st->files[st->file_count];
			mf->commit = commit;
			mf->path = json_string(f, "path");
			mf->blob = json_string(f, "blob");
			if (!mf->path || !hub_path_is_safe(mf->path))
				return bad(st, "the manifest lists an unsafe path");
			if (!mf->blob || !find_blob(st, mf->blob))
				return bad(st, "%s: the manifest links it to an unlisted blob", mf->path);
			st->file_count++;
		}
	}
	qsort(st->refs, st->ref_count, sizeof(*st->refs), ref_cmp);
	for (size_t i = 1; i < st->ref_count; i++)
		if (!ref_cmp(&st->refs[i - 1], &st->refs[i]) &&
		    strcmp(st->refs[i - 1].commit, st->refs[i].commit))
			return bad(st, "the manifest gives ref %s two commits", st->refs[i].name);
	qsort(st->files, st->file_count, sizeof(*st->files), file_cmp);
	for (size_t i = 1; i < st->file_count; i++)
		if (!file_cmp(&st->files[i - 1], &st->files[i]))
			return bad(st, "%s: listed twice", st->files[i].path);
	return 0;
}

/* Everything the manifest claims is checked before it is believed. */
static int parse_manifest(struct import_state *st, const char *text, size_t len)
{
	st->doc = cJSON_ParseWithLength(text, len);
	if (!st->doc || !cJSON_IsObject(st->doc))
		return bad(st, "the manifest is not a JSON object");
	const char *format = json_string(st->doc, "format");
	st->folder = json_string(st->doc, "folder");
	if (!format || strcmp(format, "modl-cache-export"))
		return bad(st, "not a modl cache bundle (manifest format)");
	if (!st->folder || cache_parse_folder(st->folder, &st->repo) != 0)
		return bad(st, "the manifest names no valid repository folder");
	const cJSON *blobs = cJSON_GetObjectItemCaseSensitive(st->doc, "blobs");
	const cJSON *revs = cJSON_GetObjectItemCaseSensitive(st->doc, "revisions");
	if (!cJSON_IsArray(blobs) || !cJSON_IsArray(revs) || cJSON_GetArraySize(revs) == 0)
		return bad(st, "the manifest lacks its revisions or blobs");
	int rc = collect_blobs(st, blobs);
	return rc ? rc : collect_revisions(st, revs);
}

static int read_manifest(struct import_state *st, struct archive *a, struct archive_entry *e)
{
	la_int64_t size = archive_entry_size(e);
	if (strcmp(archive_entry_pathname(e), ARCHIVE_MANIFEST_NAME) || archive_entry_filetype(e) != AE_IFREG)
		return bad(st, "the first entry is not %s", ARCHIVE_MANIFEST_NAME);
	if (size <= 0 || size > ARCHIVE_MANIFEST_MAX)
		return bad(st, "the manifest claims %lld bytes", (long long)size);
	char *text = malloc((size_t)size);
	if (!text)
		return modl_error_oom();
	la_ssize_t n = archive_read_data(a, text, (size_t)size);
	int rc = n == size ? parse_manifest(st, text, (size_t)size) : bad(st, "the manifest is truncated");
	free(text);
	return rc;
}

/* Before the first blob is written: the blobs the manifest lists must fit on the cache's
 * file system. A small bundle that unpacks to more than the disk holds fails here, with
 * nothing written, instead of filling the disk before a hash check could fail. */
static int check_space(const struct import_state *st)
{
	struct statvfs vfs;
	unsigned long long need = 0;
	for (size_t i = 0; i < st->blob_count; i++)
		need = need > ULLONG_MAX - st->blobs[i].size ? ULLONG_MAX : need + st->blobs[i].size;
	if (statvfs(st->staging, &vfs) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot check the free space of %s", st->staging);
	unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (need <= avail)
		return 0;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	strbuf_add_size(&a, need);
	strbuf_add_size(&b, avail);
	int rc = modl_error_set(MODL_EFAIL, "%s: its blobs take %s and the cache's file system has %s free",
				st->input, a.buf ? a.buf : "?", b.buf ? b.buf : "?");
	strbuf_free(&a);
	strbuf_free(&b);
	return rc;
}

/* The signal that interrupted an import, or 0. A handler can only set a flag (removing
 * a folder tree is no work for a handler): the import sees it between reads, removes its
 * staging and lets the signal take its course. */
static volatile sig_atomic_t import_signal;

/* Copies a blob's bytes into staging while hashing them; never more than the manifest
 * lists. */
static int extract_blob(struct import_state *st, struct archive *a, struct manifest_blob *mb, la_int64_t size)
{
	struct strbuf path = STRBUF_INIT;
	struct hasher *h = NULL;
	char *buf = malloc(ARCHIVE_CHUNK), hex[HASH_HEX_BUF];
	int fd = -1, rc = buf ? 0 : modl_error_oom();
	if (!rc && (unsigned long long)size != mb->size)
		rc = bad(st, "blob %.12s: %lld bytes, the manifest says %llu", mb->name, (long long)size,
			 mb->size);
	if (!rc && !st->space_checked && !(rc = check_space(st)))
		st->space_checked = 1;
	if (!rc)
		rc = strbuf_addf(&path, "%s/blobs/%s", st->staging, mb->name);
	if (!rc && (fd = open(path.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", path.buf);
	if (!rc)
		rc = hasher_new(&h, (enum hash_kind)hash_kind_of(mb->name), mb->size);
	unsigned long long got = 0;
	while (!rc && got < mb->size && !import_signal) {
		unsigned long long left = mb->size - got;
		la_ssize_t n = archive_read_data(a, buf, left < ARCHIVE_CHUNK ? (size_t)left : ARCHIVE_CHUNK);
		if (n < 0) {
			rc = bad(st, "blob %.12s: %s", mb->name, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		got += (unsigned long long)n;
		if ((rc = hasher_update(h, buf, (size_t)n)))
			break;
		for (la_ssize_t done = 0; !rc && done < n;) {
			ssize_t w = write(fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno != EINTR)
				rc = modl_error_errno(MODL_EFAIL, errno, "cannot write %s", path.buf);
			done += w > 0 ? w : 0;
		}
	}
	if (!rc && got != mb->size)
		rc = bad(st, "blob %.12s is truncated (%llu of %llu bytes)", mb->name, got, mb->size);
	if (!rc) {
		rc = hasher_finish(h, hex);
		h = NULL;
		if (!rc && strcmp(hex, mb->name))
			rc = modl_error_set(MODL_EINTEGRITY, "%s: blob %s does not match its hash (got %s)",
					    st->input, mb->name, hex);
	}
	if (!rc && fsync(fd) != 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot sync %s", path.buf);
	hasher_free(h);
	if (fd >= 0)
		close(fd);
	free(buf);
	strbuf_free(&path);
	if (!rc)
		mb->seen = 1;
	return rc;
}

static int accept_link(struct import_state *st, struct archive_entry *e, const char *rest)
{
	char commit[HASH_COMMIT_BUF];
	if (strlen(rest) < HASH_SHA1_HEX + 2 || rest[HASH_SHA1_HEX] != '/')
		return bad(st, "%s: not inside a snapshot", archive_entry_pathname(e));
	memcpy(commit, rest, HASH_SHA1_HEX);
	commit[HASH_SHA1_HEX] = '\0';
	const char *path = rest + 41;
	struct manifest_file *mf = find_file(st, commit, path);
	if (!mf)
		return bad(st, "%s: not listed in the manifest", archive_entry_pathname(e));
	if (archive_entry_filetype(e) != AE_IFLNK)
		return bad(st, "%s: a snapshot entry that is not a symlink", archive_entry_pathname(e));
	struct strbuf want = STRBUF_INIT;
	for (const char *p = path; *p; p++)
		if (*p == '/')
			strbuf_adds(&want, "../");
	strbuf_addf(&want, "../../blobs/%s", mf->blob);
	const char *target = archive_entry_symlink(e);
	int ok = target && !strcmp(target, want.buf);
	strbuf_free(&want);
	if (!ok)
		return bad(st, "%s: its link leads outside the repository's blobs",
			   archive_entry_pathname(e));
	if (mf->seen)
		return bad(st, "%s: appears twice", archive_entry_pathname(e));
	mf->seen = 1;
	return 0;
}

static int accept_ref(struct import_state *st, struct archive *a, struct archive_entry *e, const char *name)
{
	char commit[ARCHIVE_REF_MAX + 1];
	if (archive_entry_filetype(e) != AE_IFREG || !hub_path_is_safe(name) ||
	    archive_entry_size(e) != HASH_SHA1_HEX)
		return bad(st, "%s: not a valid ref", archive_entry_pathname(e));
	if (archive_read_data(a, commit, HASH_SHA1_HEX) != HASH_SHA1_HEX)
		return bad(st, "%s: truncated", archive_entry_pathname(e));
	commit[HASH_SHA1_HEX] = '\0';
	const char *listed = manifest_ref(st, name);
	if (!listed || strcmp(listed, commit))
		return bad(st, "%s: disagrees with the manifest", archive_entry_pathname(e));
	return 0;
}

static int import_entry(struct import_state *st, struct archive *a, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	size_t flen = strlen(st->folder);
	mode_t type = archive_entry_filetype(e);
	if (!name || name[0] == '/' || strncmp(name, st->folder, flen) || name[flen] != '/')
		return bad(st, "%s: outside the repository folder %s", name ? name : "(no name)", st->folder);
	const char *rest = name + flen + 1;
	if (type == AE_IFDIR) {
		size_t len = strlen(rest);
		char trimmed[4096];
		if (len >= sizeof(trimmed))
			return bad(st, "%s: path too long", name);
		memcpy(trimmed, rest, len + 1);
		while (len && trimmed[len - 1] == '/')
			trimmed[--len] = '\0';
		if (len && !hub_path_is_safe(trimmed))
			return bad(st, "%s: unsafe folder", name);
		return 0; /* folders are made by the importer itself */
	}
	if (!hub_path_is_safe(rest))
		return bad(st, "%s: unsafe path", name);
	if (archive_entry_hardlink(e))
		return bad(st, "%s: hard links are not accepted", name);
	if (!strncmp(rest, "blobs/", 6)) {
		struct manifest_blob *mb = find_blob(st, rest + 6);
		if (type != AE_IFREG)
			return bad(st, "%s: a blob that is not a regular file", name);
		if (!mb)
			return bad(st, "%s: not listed in the manifest", name);
		if (mb->seen)
			return bad(st, "%s: appears twice", name);
		/* A few KB of sparse map can claim a tebibyte of holes: nothing a cache needs. */
		if (archive_entry_sparse_count(e) > 0)
			return bad(st, "%s: sparse entries are not accepted", name);
		return extract_blob(st, a, mb, archive_entry_size(e));
	}
	if (!strncmp(rest, "snapshots/", 10))
		return accept_link(st, e, rest + 10);
	if (!strncmp(rest, "refs/", 5))
		return accept_ref(st, a, e, rest + 5);
	return bad(st, "%s: not a refs/, blobs/ or snapshots/ entry", name);
}

struct import_source {
	int fd;
	char *buf;
};

/* Reads the bundle. Unlike libarchive's own file reader, it gives up when a signal
 * interrupts a read, so that a stalled pipe cannot keep an interrupted import alive. */
static la_ssize_t source_read(struct archive *a, void *data, const void **out)
{
	struct import_source *src = data;
	for (;;) {
		if (import_signal) {
			archive_set_error(a, EINTR, "interrupted");
			return -1;
		}
		ssize_t n = read(src->fd, src->buf, ARCHIVE_CHUNK);
		if (n >= 0) {
			*out = src->buf;
			return n;
		}
		if (errno != EINTR) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
	}
}

static int source_close(struct archive *a, void *data)
{
	struct import_source *src = data;
	(void)a;
	if (src->fd != STDIN_FILENO)
		close(src->fd);
	free(src->buf);
	free(src);
	return ARCHIVE_OK;
}

static int open_reader(struct archive **out, const char *input)
{
	struct import_source *src = calloc(1, sizeof(*src));
	struct archive *a = src ? archive_read_new() : NULL;
	if (src)
		src->buf = malloc(ARCHIVE_CHUNK);
	if (!a || !src->buf) {
		if (src)
			free(src->buf);
		free(src);
		if (a)
			archive_read_free(a);
		return modl_error_oom();
	}
	src->fd = strcmp(input, "-") ? open(input, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (src->fd < 0) {
		int e = errno;
		free(src->buf);
		free(src);
		archive_read_free(a);
		return modl_error_errno(e == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, e, "%s", input);
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	/* On failure libarchive has called source_close already. */
	if (archive_read_open(a, src, NULL, source_read, source_close) != ARCHIVE_OK) {
		int rc = modl_error_set(MODL_EINVALID, "%s: %s", input, archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

static void on_import_signal(int sig)
{
	import_signal = sig;
}

static const int import_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_IMPORT_SIGNALS (sizeof(import_signals) / sizeof(import_signals[0]))

/* No SA_RESTART: a read blocked on a pipe returns EINTR and the import notices. A signal
 * the caller ignores stays ignored. */
static void signals_arm(struct sigaction saved[N_IMPORT_SIGNALS])
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_import_signal;
	sigemptyset(&sa.sa_mask);
	import_signal = 0;
	for (size_t i = 0; i < N_IMPORT_SIGNALS; i++)
		if (sigaction(import_signals[i], NULL, &saved[i]) == 0 && saved[i].sa_handler != SIG_IGN)
			sigaction(import_signals[i], &sa, NULL);
}

/* Puts the caller's handlers back; a signal that arrived meanwhile is delivered now,
 * after the cleanup, which (by default) ends the process as the signal would have. */
static void signals_disarm(const struct sigaction saved[N_IMPORT_SIGNALS])
{
	for (size_t i = 0; i < N_IMPORT_SIGNALS; i++)
		sigaction(import_signals[i], &saved[i], NULL);
	if (import_signal)
		raise(import_signal);
}

/* Staging lives in the cache (same file system, so the final moves are renames) under a
 * dot-name that no reader of the cache takes for a repository. Its folder stays flock-ed
 * while this import lives: `cache prune` removes one only when it can take that lock. A
 * prune may take the lock between mkdtemp and flock and remove the folder: then it has
 * no links left, and another is made. */
static int make_staging(struct import_state *st, const char *hub_cache)
{
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	for (int tries = 0; !rc && st->lock_fd < 0; tries++) {
		struct stat info;
		strbuf_reset(&sb);
		if ((rc = strbuf_addf(&sb, "%s/.modl-import-XXXXXX", hub_cache)))
			break;
		if (!mkdtemp(sb.buf)) {
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", sb.buf);
			break;
		}
		int fd = open(sb.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX) != 0 || fstat(fd, &info) != 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot lock %s", sb.buf);
			if (fd >= 0)
				close(fd);
			rmdir(sb.buf);
		} else if (info.st_nlink == 0) {
			close(fd);
			if (tries >= 3)
				rc = modl_error_set(MODL_EFAIL,
						    "%s: removed as soon as made, again and again", sb.buf);
		} else {
			st->lock_fd = fd;
			st->staging_root = strbuf_take(&sb);
		}
	}
	if (!rc && !(rc = strbuf_addf(&sb, "%s/%s/blobs", st->staging_root, st->folder)))
		rc = fs_mkdir_p(sb.buf, 0755);
	if (!rc) {
		strbuf_reset(&sb);
		if (!(rc = strbuf_addf(&sb, "%s/%s", st->staging_root, st->folder)))
			st->staging = strbuf_take(&sb);
	}
	strbuf_free(&sb);
	return rc;
}

/* The refs the manifest gives, written into repo folder c. */
static int write_manifest_refs(const struct import_state *st, const struct cache_repo *c)
{
	const cJSON *rev, *ref;
	int rc = 0;
	cJSON_ArrayForEach(rev, cJSON_GetObjectItemCaseSensitive(st->doc, "revisions"))
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(rev, "refs")) if (!rc) rc =
			cache_write_ref(c, ref->valuestring, json_string(rev, "commit"));
	return rc;
}

/* Builds blobs/, snapshots/<commit>/ links and refs/ under staging from what was read. */
static int stage(struct import_state *st)
{
	struct strbuf path = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; !rc && i < st->blob_count; i++)
		if (!st->blobs[i].seen)
			rc = bad(st, "blob %.12s listed in the manifest is missing", st->blobs[i].name);
	for (size_t i = 0; !rc && i < st->file_count; i++)
		if (!st->files[i].seen)
			rc = bad(st, "%s of %.12s listed in the manifest is missing", st->files[i].path,
				 st->files[i].commit);
	struct cache_repo staged = { 0 };
	if (!rc) {
		/* cache_link_snapshot and cache_write_ref work on any repo folder: point them
		 * at staging. */
		staged.folder = st->staging;
		for (size_t i = 0; !rc && i < st->file_count; i++)
			rc = cache_link_snapshot(&staged, st->files[i].commit, st->files[i].path,
						 st->files[i].blob);
		if (!rc)
			rc = write_manifest_refs(st, &staged);
	}
	strbuf_free(&path);
	return rc;
}

/* Moves staging into the cache: the whole folder when the repo is new (one rename),
 * else blob by blob, snapshot by snapshot, each a rename, then the refs. */
static int publish(struct import_state *st, const char *hub_cache, struct archive_summary *s)
{
	struct strbuf target = STRBUF_INIT, from = STRBUF_INIT, to = STRBUF_INIT;
	struct stat sb;
	int rc = strbuf_addf(&target, "%s/%s", hub_cache, st->folder);
	if (!rc && lstat(target.buf, &sb) != 0) {
		if (rename(st->staging, target.buf) != 0)
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot move the bundle into %s",
					      target.buf);
		s->blobs_added = st->blob_count;
		goto out;
	}
	struct cache_repo c = { .folder = target.buf };
	rc = fs_mkdir_p(target.buf, 0755);
	for (const char *sub = "blobs"; !rc && sub; sub = !strcmp(sub, "blobs") ? "snapshots" : NULL) {
		strbuf_reset(&to);
		strbuf_addf(&to, "%s/%s", target.buf, sub);
		rc = fs_mkdir_p(to.buf, 0755);
	}
	for (size_t i = 0; !rc && i < st->blob_count; i++) {
		strbuf_reset(&from);
		strbuf_reset(&to);
		strbuf_addf(&from, "%s/blobs/%s", st->staging, st->blobs[i].name);
		strbuf_addf(&to, "%s/blobs/%s", target.buf, st->blobs[i].name);
		if (lstat(to.buf, &sb) == 0)
			continue;
		if (rename(from.buf, to.buf) != 0)
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot move %s", to.buf);
		s->blobs_added++;
	}
	for (size_t i = 0; !rc && i < st->file_count; i++)
		rc = cache_link_snapshot(&c, st->files[i].commit, st->files[i].path, st->files[i].blob);
	if (!rc)
		rc = write_manifest_refs(st, &c);
out:
	strbuf_free(&target);
	strbuf_free(&from);
	strbuf_free(&to);
	return rc;
}

static int read_entries(struct import_state *st, struct archive *a)
{
	struct archive_entry *e;
	int rc = 0;
	while (!rc && !import_signal) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return bad(st, "%s", archive_error_string(a));
		rc = import_entry(st, a, e);
	}
	return rc;
}

int archive_import(const char *hub_cache, const char *input, struct archive_summary *s)
{
	struct import_state st = { .input = input, .lock_fd = -1 };
	struct archive *a = NULL;
	struct archive_entry *e;
	struct sigaction saved[N_IMPORT_SIGNALS];
	memset(s, 0, sizeof(*s));
	struct stat before;
	int created_cache = stat(hub_cache, &before) != 0;
	signals_arm(saved);
	int rc = open_reader(&a, input);
	if (!rc)
		rc = fs_mkdir_p(hub_cache, 0755);
	if (!rc) {
		int r = archive_read_next_header(a, &e);
		rc = r == ARCHIVE_OK
			     ? read_manifest(&st, a, e)
			     : bad(&st, "%s", r == ARCHIVE_EOF ? "empty bundle" : archive_error_string(a));
	}
	if (!rc)
		rc = make_staging(&st, hub_cache);
	if (!rc)
		rc = read_entries(&st, a);
	if (!rc && !import_signal)
		rc = stage(&st);
	if (!rc && !import_signal) {
		snprintf(s->repo, sizeof(s->repo), "%s", st.repo.id);
		s->type = st.repo.type;
		s->revisions =
			(size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st.doc, "revisions"));
		s->files = st.file_count;
		s->blobs = st.blob_count;
		for (size_t i = 0; i < st.blob_count; i++)
			s->bytes += st.blobs[i].size;
		rc = publish(&st, hub_cache, s);
	}
	/* After publish, an interruption changes nothing: the import is complete. */
	if (import_signal && (rc || !s->repo[0]))
		rc = modl_error_set(MODL_EFAIL, "%s: interrupted by signal %d", input, (int)import_signal);
	if (st.staging_root)
		fs_remove_tree(st.staging_root);
	if (st.lock_fd >= 0)
		close(st.lock_fd);
	if (rc && created_cache)
		rmdir(hub_cache); /* only when still empty: the cache is as it was */
	if (a)
		archive_read_free(a);
	cJSON_Delete(st.doc);
	free(st.blobs);
	free(st.files);
	free(st.refs);
	free(st.staging);
	free(st.staging_root);
	signals_disarm(saved);
	return rc;
}
