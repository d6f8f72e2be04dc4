#include "archive.h"
#include "cache.h"
#include "cache_scan.h"
#include "error.h"
#include "fs.h"
#include "hash.h"
#include "strbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	return modl_error_set(MODL_EFAIL, "%s: %s", output, archive_error_string(a));
}

static int add_entry(struct archive *a, const char *output, const char *path, mode_t type, mode_t perm,
		     la_int64_t size, const char *link_target, time_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return modl_error_set(MODL_EFAIL, "out of memory");
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
		rc = modl_error_set(MODL_EFAIL, "out of memory");
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

static cJSON *export_manifest(const struct cache_entry *e, const unsigned char *chosen, const unsigned char *used)
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
		return modl_error_set(MODL_EFAIL, "out of memory");
	archive_write_set_format_pax_restricted(a);
	if (ends_with(output, ".tar.gz") || ends_with(output, ".tgz"))
		rc = archive_write_add_filter_gzip(a);
	else if (ends_with(output, ".tar.zst"))
		rc = archive_write_add_filter_zstd(a);
	else if (strcmp(output, "-") && !ends_with(output, ".tar"))
		rc = ARCHIVE_FATAL + 1000;
	if (rc == ARCHIVE_FATAL + 1000) {
		archive_write_free(a);
		return modl_error_set(MODL_EUSAGE, "%s: the bundle name must end in .tar, .tar.gz or .tar.zst", output);
	}
	if (rc != ARCHIVE_OK || archive_write_open_filename(a, strcmp(output, "-") ? target : NULL) != ARCHIVE_OK) {
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
	int rc = text ? 0 : modl_error_set(MODL_EFAIL, "out of memory");
	/* The manifest comes first, so that an importer can check every entry as it comes. */
	if (!rc)
		rc = add_entry(a, output, ARCHIVE_MANIFEST_NAME, AE_IFREG, 0644, (la_int64_t)strlen(text), NULL, now);
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
			rc = add_entry(a, output, ap.buf, AE_IFREG, 0644, 40, NULL, now);
			if (!rc && archive_write_data(a, r->commit, 40) != 40)
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
		rc = modl_error_set(MODL_EFAIL, "out of memory");
		goto out;
	}
	if (repo->revision[0]) {
		const struct cache_revision *r = cache_entry_revision(e, repo->revision);
		if (!r) {
			rc = modl_error_set(MODL_ENOTFOUND, "revision %s of %s is not in the cache", repo->revision,
					    repo->id);
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

struct import_state {
	const char *input;
	cJSON *doc;
	struct hub_repo repo;
	const char *folder;
	struct manifest_blob *blobs;
	size_t blob_count;
	struct manifest_file *files;
	size_t file_count;
	char *staging;        /* <cache>/.modl-import-XXXXXX/<folder> */
	char *staging_root;
};

static int bad(const struct import_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const struct import_state *st, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return modl_error_set(MODL_EINVALID, "%s: %s", st->input, msg);
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

static struct manifest_blob *find_blob(struct import_state *st, const char *name)
{
	for (size_t i = 0; i < st->blob_count; i++)
		if (!strcmp(st->blobs[i].name, name))
			return &st->blobs[i];
	return NULL;
}

static struct manifest_file *find_file(struct import_state *st, const char *commit, const char *path)
{
	for (size_t i = 0; i < st->file_count; i++)
		if (!strcmp(st->files[i].commit, commit) && !strcmp(st->files[i].path, path))
			return &st->files[i];
	return NULL;
}

/* The manifest decides the refs; a ref entry in the bundle must agree with it. */
static const char *manifest_ref(const struct import_state *st, const char *name)
{
	const cJSON *rev, *ref;
	cJSON_ArrayForEach(rev, cJSON_GetObjectItemCaseSensitive(st->doc, "revisions"))
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(rev, "refs"))
			if (cJSON_IsString(ref) && !strcmp(ref->valuestring, name))
				return json_string(rev, "commit");
	return NULL;
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
	const cJSON *blobs = cJSON_GetObjectItemCaseSensitive(st->doc, "blobs"), *b;
	const cJSON *revs = cJSON_GetObjectItemCaseSensitive(st->doc, "revisions"), *rev, *f;
	if (!cJSON_IsArray(blobs) || !cJSON_IsArray(revs) || cJSON_GetArraySize(revs) == 0)
		return bad(st, "the manifest lacks its revisions or blobs");
	st->blobs = calloc((size_t)cJSON_GetArraySize(blobs) + 1, sizeof(*st->blobs));
	if (!st->blobs)
		return modl_error_set(MODL_EFAIL, "out of memory");
	cJSON_ArrayForEach(b, blobs) {
		struct manifest_blob *mb = &st->blobs[st->blob_count];
		mb->name = json_string(b, "name");
		if (!mb->name || hash_kind_of(mb->name) < 0 || json_size(b, "size", &mb->size))
			return bad(st, "the manifest lists a blob without a valid name and size");
		if (find_blob(st, mb->name))
			return bad(st, "the manifest lists blob %s twice", mb->name);
		st->blob_count++;
	}
	size_t nfiles = 0;
	cJSON_ArrayForEach(rev, revs)
		nfiles += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rev, "files"));
	st->files = calloc(nfiles + 1, sizeof(*st->files));
	if (!st->files)
		return modl_error_set(MODL_EFAIL, "out of memory");
	cJSON_ArrayForEach(rev, revs) {
		const char *commit = json_string(rev, "commit");
		if (!commit || !hub_is_commit(commit))
			return bad(st, "the manifest lists a revision without a commit id");
		const cJSON *ref;
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(rev, "refs")) {
			if (!cJSON_IsString(ref) || !hub_path_is_safe(ref->valuestring))
				return bad(st, "the manifest lists an invalid ref");
			const char *owner = manifest_ref(st, ref->valuestring);
			if (owner && strcmp(owner, commit))
				return bad(st, "the manifest gives ref %s two commits", ref->valuestring);
		}
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(rev, "files")) {
			struct manifest_file *mf = &st->files[st->file_count];
			mf->commit = commit;
			mf->path = json_string(f, "path");
			mf->blob = json_string(f, "blob");
			if (!mf->path || !hub_path_is_safe(mf->path))
				return bad(st, "the manifest lists an unsafe path");
			if (!mf->blob || !find_blob(st, mf->blob))
				return bad(st, "%s: the manifest links it to an unlisted blob", mf->path);
			if (find_file(st, commit, mf->path))
				return bad(st, "%s: listed twice", mf->path);
			st->file_count++;
		}
	}
	return 0;
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
		return modl_error_set(MODL_EFAIL, "out of memory");
	la_ssize_t n = archive_read_data(a, text, (size_t)size);
	int rc = n == size ? parse_manifest(st, text, (size_t)size) : bad(st, "the manifest is truncated");
	free(text);
	return rc;
}

/* Copies a blob's bytes into staging while hashing them. */
static int extract_blob(struct import_state *st, struct archive *a, struct manifest_blob *mb, la_int64_t size)
{
	struct strbuf path = STRBUF_INIT;
	struct hasher *h = NULL;
	char *buf = malloc(ARCHIVE_CHUNK), hex[65];
	int fd = -1, rc = buf ? 0 : modl_error_set(MODL_EFAIL, "out of memory");
	if ((unsigned long long)size != mb->size)
		rc = bad(st, "blob %.12s: %lld bytes, the manifest says %llu", mb->name, (long long)size, mb->size);
	if (!rc)
		rc = strbuf_addf(&path, "%s/blobs/%s", st->staging, mb->name);
	if (!rc && (fd = open(path.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", path.buf);
	if (!rc)
		rc = hasher_new(&h, (enum hash_kind)hash_kind_of(mb->name), mb->size);
	unsigned long long got = 0;
	while (!rc) {
		la_ssize_t n = archive_read_data(a, buf, ARCHIVE_CHUNK);
		if (n < 0) {
			rc = bad(st, "blob %.12s: %s", mb->name, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		got += (unsigned long long)n;
		if (got > mb->size) {
			rc = bad(st, "blob %.12s: more bytes than claimed", mb->name);
			break;
		}
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
			rc = modl_error_set(MODL_EINTEGRITY, "%s: blob %s does not match its hash (got %s)", st->input,
					    mb->name, hex);
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

/* A snapshot entry must be the link this manifest file needs, pointing inside blobs/. */
static int accept_link(struct import_state *st, struct archive_entry *e, const char *rest)
{
	char commit[41];
	if (strlen(rest) < 42 || rest[40] != '/')
		return bad(st, "%s: not inside a snapshot", archive_entry_pathname(e));
	memcpy(commit, rest, 40);
	commit[40] = '\0';
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
		return bad(st, "%s: its link leads outside the repository's blobs", archive_entry_pathname(e));
	if (mf->seen)
		return bad(st, "%s: appears twice", archive_entry_pathname(e));
	mf->seen = 1;
	return 0;
}

static int accept_ref(struct import_state *st, struct archive *a, struct archive_entry *e, const char *name)
{
	char commit[ARCHIVE_REF_MAX + 1];
	if (archive_entry_filetype(e) != AE_IFREG || !hub_path_is_safe(name) || archive_entry_size(e) != 40)
		return bad(st, "%s: not a valid ref", archive_entry_pathname(e));
	if (archive_read_data(a, commit, 40) != 40)
		return bad(st, "%s: truncated", archive_entry_pathname(e));
	commit[40] = '\0';
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
		return extract_blob(st, a, mb, archive_entry_size(e));
	}
	if (!strncmp(rest, "snapshots/", 10))
		return accept_link(st, e, rest + 10);
	if (!strncmp(rest, "refs/", 5))
		return accept_ref(st, a, e, rest + 5);
	return bad(st, "%s: not a refs/, blobs/ or snapshots/ entry", name);
}

static int open_reader(struct archive **out, const char *input)
{
	struct archive *a = archive_read_new();
	if (!a)
		return modl_error_set(MODL_EFAIL, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, strcmp(input, "-") ? input : NULL, ARCHIVE_CHUNK) != ARCHIVE_OK) {
		int rc = access(input, F_OK) != 0 && strcmp(input, "-")
				 ? modl_error_errno(MODL_ENOTFOUND, errno, "%s", input)
				 : modl_error_set(MODL_EINVALID, "%s: %s", input, archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* The refs the manifest gives, written into repo folder c. */
static int write_manifest_refs(const struct import_state *st, const struct cache_repo *c)
{
	const cJSON *rev, *ref;
	int rc = 0;
	cJSON_ArrayForEach(rev, cJSON_GetObjectItemCaseSensitive(st->doc, "revisions"))
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(rev, "refs"))
			if (!rc)
				rc = cache_write_ref(c, ref->valuestring, json_string(rev, "commit"));
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
			rc = cache_link_snapshot(&staged, st->files[i].commit, st->files[i].path, st->files[i].blob);
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
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot move the bundle into %s", target.buf);
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

int archive_import(const char *hub_cache, const char *input, struct archive_summary *s)
{
	struct import_state st = { .input = input };
	struct archive *a = NULL;
	struct archive_entry *e;
	struct strbuf sb = STRBUF_INIT;
	memset(s, 0, sizeof(*s));
	struct stat before;
	int created_cache = stat(hub_cache, &before) != 0;
	int rc = open_reader(&a, input);
	if (!rc)
		rc = fs_mkdir_p(hub_cache, 0755);
	if (!rc) {
		int r = archive_read_next_header(a, &e);
		rc = r == ARCHIVE_OK ? read_manifest(&st, a, e) : bad(&st, "%s", r == ARCHIVE_EOF ? "empty bundle"
											      : archive_error_string(a));
	}
	/* Staging lives in the cache (same file system, so the final moves are renames) under
	 * a dot-name that no reader of the cache takes for a repository. */
	if (!rc && !(rc = strbuf_addf(&sb, "%s/.modl-import-XXXXXX", hub_cache))) {
		if (!mkdtemp(sb.buf))
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", sb.buf);
		else
			st.staging_root = strbuf_take(&sb);
	}
	if (!rc && !(rc = strbuf_addf(&sb, "%s/%s/blobs", st.staging_root, st.folder)))
		rc = fs_mkdir_p(sb.buf, 0755);
	if (!rc) {
		strbuf_reset(&sb);
		if (!(rc = strbuf_addf(&sb, "%s/%s", st.staging_root, st.folder)))
			st.staging = strbuf_take(&sb);
	}
	while (!rc) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = bad(&st, "%s", archive_error_string(a));
			break;
		}
		rc = import_entry(&st, a, e);
	}
	if (!rc)
		rc = stage(&st);
	if (!rc) {
		snprintf(s->repo, sizeof(s->repo), "%s", st.repo.id);
		s->type = st.repo.type;
		s->revisions = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st.doc, "revisions"));
		s->files = st.file_count;
		s->blobs = st.blob_count;
		for (size_t i = 0; i < st.blob_count; i++)
			s->bytes += st.blobs[i].size;
		rc = publish(&st, hub_cache, s);
	}
	if (st.staging_root)
		fs_remove_tree(st.staging_root);
	if (rc && created_cache)
		rmdir(hub_cache); /* only when still empty: the cache is as it was */
	if (a)
		archive_read_free(a);
	cJSON_Delete(st.doc);
	free(st.blobs);
	free(st.files);
	free(st.staging);
	free(st.staging_root);
	strbuf_free(&sb);
	return rc;
}
