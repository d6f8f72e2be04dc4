#include "cache.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_TREE_MAX (256u << 20)

static const char cachedir_tag[] =
	"Signature: 8a477f597d28d172789f06886806bc55\n"
	"# This file is a cache directory tag created by modl (Hugging Face hub cache).\n"
	"# For information about cache directory tags, see https://bford.info/cachedir/\n";

int cache_folder_name(const struct hub_repo *repo, struct strbuf *out)
{
	int rc = strbuf_addf(out, "%ss--", hub_repo_type_name(repo->type));
	for (const char *p = repo->id; !rc && *p; p++)
		rc = *p == '/' ? strbuf_adds(out, "--") : strbuf_add(out, p, 1);
	return rc;
}

int cache_repo_init(struct cache_repo *c, const char *hub_cache, const struct hub_repo *repo)
{
	struct strbuf name = STRBUF_INIT, sb = STRBUF_INIT;
	memset(c, 0, sizeof(*c));
	int rc = cache_folder_name(repo, &name);
	if (!rc && !(c->root = strdup(hub_cache)))
		rc = modl_error_oom();
	if (!rc && !(rc = strbuf_addf(&sb, "%s/%s", hub_cache, name.buf)))
		c->folder = strbuf_take(&sb);
	if (!rc && !(rc = strbuf_addf(&sb, "%s/.locks/%s", hub_cache, name.buf)))
		c->locks = strbuf_take(&sb);
	strbuf_free(&name);
	strbuf_free(&sb);
	if (rc)
		cache_repo_free(c);
	return rc;
}

void cache_repo_free(struct cache_repo *c)
{
	free(c->root);
	free(c->folder);
	free(c->locks);
	memset(c, 0, sizeof(*c));
}

int cache_repo_prepare(const struct cache_repo *c)
{
	static const char *const subdirs[] = { "blobs", "snapshots", "refs" };
	struct strbuf sb = STRBUF_INIT;
	int rc = fs_mkdir_p(c->locks, 0755);
	for (size_t i = 0; !rc && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		strbuf_reset(&sb);
		if (!(rc = strbuf_addf(&sb, "%s/%s", c->folder, subdirs[i])))
			rc = fs_mkdir_p(sb.buf, 0755);
	}
	if (!rc) {
		strbuf_reset(&sb);
		rc = strbuf_addf(&sb, "%s/CACHEDIR.TAG", c->root);
		if (!rc && access(sb.buf, F_OK) != 0)
			rc = fs_write_atomic(sb.buf, cachedir_tag, sizeof(cachedir_tag) - 1, 0644);
	}
	strbuf_free(&sb);
	return rc;
}

int cache_blob_path(const struct cache_repo *c, const char *etag, struct strbuf *out)
{
	return strbuf_addf(out, "%s/blobs/%s", c->folder, etag);
}

int cache_blob_present(const struct cache_repo *c, const char *etag, unsigned long long size)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	int present = !cache_blob_path(c, etag, &path) && lstat(path.buf, &st) == 0 && S_ISREG(st.st_mode) &&
		      (unsigned long long)st.st_size == size;
	strbuf_free(&path);
	return present;
}

int cache_snapshot_dir(const struct cache_repo *c, const char *commit, struct strbuf *out)
{
	return strbuf_addf(out, "%s/snapshots/%s", c->folder, commit);
}

int cache_lock_path(const struct cache_repo *c, const char *etag, struct strbuf *out)
{
	return strbuf_addf(out, "%s/%s.lock", c->locks, etag);
}

int cache_snapshot_lock_path(const struct cache_repo *c, const char *commit, struct strbuf *out)
{
	return strbuf_addf(out, "%s/snapshot-%s.lock", c->locks, commit);
}

/* True when link is already a symlink to target. */
static int link_is(const char *link, const char *target)
{
	char buf[4096];
	ssize_t n = readlink(link, buf, sizeof(buf));
	return n >= 0 && (size_t)n == strlen(target) && !memcmp(buf, target, (size_t)n);
}

int cache_link_snapshot(const struct cache_repo *c, const char *commit, const char *path, const char *etag)
{
	struct strbuf link = STRBUF_INIT, dir = STRBUF_INIT, target = STRBUF_INIT, tmp = STRBUF_INIT;
	int rc = strbuf_addf(&link, "%s/snapshots/%s/%s", c->folder, commit, path);
	/* From snapshots/<commit>/<dirs...>/ back to the repo folder. */
	for (const char *p = path; !rc && *p; p++)
		if (*p == '/')
			rc = strbuf_adds(&target, "../");
	if (!rc)
		rc = strbuf_addf(&target, "../../blobs/%s", etag);
	if (rc || link_is(link.buf, target.buf))
		goto out;
	if (!rc)
		rc = fs_parent_dir(link.buf, &dir);
	if (!rc)
		rc = fs_mkdir_p(dir.buf, 0755);
	/* Unique per thread too: two files of a pull may be linked at the same moment, but
	 * never the same path twice at once, so pid and path make it unique. */
	if (!rc)
		rc = strbuf_addf(&tmp, "%s.modl-link.%ld", link.buf, (long)getpid());
	if (rc)
		goto out;
	unlink(tmp.buf);
	if (symlink(target.buf, tmp.buf) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create symlink %s", tmp.buf);
		goto out;
	}
	if (rename(tmp.buf, link.buf) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", link.buf);
		unlink(tmp.buf);
	}
out:
	strbuf_free(&link);
	strbuf_free(&dir);
	strbuf_free(&target);
	strbuf_free(&tmp);
	return rc;
}

int cache_write_ref(const struct cache_repo *c, const char *ref, const char *commit)
{
	struct strbuf path = STRBUF_INIT, dir = STRBUF_INIT;
	int rc;
	if (!hub_path_is_safe(ref))
		return modl_error_set(MODL_EINVALID, "refusing to write ref '%s'", ref);
	rc = strbuf_addf(&path, "%s/refs/%s", c->folder, ref);
	if (!rc)
		rc = fs_parent_dir(path.buf, &dir);
	if (!rc)
		rc = fs_mkdir_p(dir.buf, 0755);
	if (!rc)
		rc = fs_write_if_changed(path.buf, commit, strlen(commit), 0644);
	strbuf_free(&path);
	strbuf_free(&dir);
	return rc;
}

int cache_read_ref(const struct cache_repo *c, const char *ref, char commit[HASH_COMMIT_BUF])
{
	struct strbuf path = STRBUF_INIT;
	char *data = NULL;
	size_t len = 0;
	int rc = hub_path_is_safe(ref) ? strbuf_addf(&path, "%s/refs/%s", c->folder, ref)
				       : modl_error_set(MODL_EUSAGE, "invalid revision '%s'", ref);
	if (!rc)
		rc = fs_read_file(path.buf, 64, &data, &len);
	if (rc == MODL_EINVALID || (!rc && (len != 40 || !hub_is_commit(data))))
		rc = modl_error_set(MODL_EINVALID, "%s: not a commit id", path.buf);
	if (!rc)
		memcpy(commit, data, 41);
	free(data);
	strbuf_free(&path);
	return rc;
}

int cache_mark_no_exist(const struct cache_repo *c, const char *commit, const char *path)
{
	struct strbuf file = STRBUF_INIT, dir = STRBUF_INIT;
	int rc = strbuf_addf(&file, "%s/.no_exist/%s/%s", c->folder, commit, path);
	if (!rc)
		rc = fs_parent_dir(file.buf, &dir);
	if (!rc)
		rc = fs_mkdir_p(dir.buf, 0755);
	if (!rc)
		rc = fs_write_atomic(file.buf, "", 0, 0644);
	strbuf_free(&file);
	strbuf_free(&dir);
	return rc;
}

int cache_write_tree(const struct cache_repo *c, const char *commit, const struct hub_tree *tree)
{
	struct strbuf path = STRBUF_INIT;
	cJSON *doc = cJSON_CreateObject(), *files = NULL;
	char *text = NULL;
	int rc = doc ? 0 : modl_error_oom();
	if (!rc) {
		cJSON_AddNumberToObject(doc, "format_version", 1);
		files = cJSON_AddObjectToObject(doc, "files");
	}
	for (size_t i = 0; !rc && i < tree->count; i++) {
		const struct hub_entry *e = &tree->entries[i];
		if (e->is_dir)
			continue;
		cJSON *f = cJSON_CreateObject();
		if (!f || !cJSON_AddItemToObject(files, e->path, f)) {
			cJSON_Delete(f);
			rc = modl_error_oom();
			break;
		}
		cJSON_AddNumberToObject(f, "size", (double)e->size);
		cJSON_AddStringToObject(f, "blob_id", e->oid);
		if (e->lfs) {
			cJSON_AddStringToObject(f, "lfs_sha256", e->sha256);
			cJSON_AddNumberToObject(f, "lfs_size", (double)e->size);
		} else {
			cJSON_AddNullToObject(f, "lfs_sha256");
			cJSON_AddNullToObject(f, "lfs_size");
		}
		cJSON_AddNullToObject(f, "xet_hash");
	}
	if (!rc && !(text = cJSON_PrintUnformatted(doc)))
		rc = modl_error_oom();
	if (!rc)
		rc = strbuf_addf(&path, "%s/trees", c->folder);
	if (!rc)
		rc = fs_mkdir_p(path.buf, 0755);
	if (!rc)
		rc = strbuf_addf(&path, "/%s.json", commit);
	if (!rc)
		rc = fs_write_if_changed(path.buf, text, strlen(text), 0644);
	free(text);
	cJSON_Delete(doc);
	strbuf_free(&path);
	return rc;
}

int cache_read_tree(const struct cache_repo *c, const char *commit, struct hub_tree *tree)
{
	struct strbuf path = STRBUF_INIT;
	char *text = NULL;
	size_t len = 0;
	cJSON *doc = NULL;
	memset(tree, 0, sizeof(*tree));
	int rc = strbuf_addf(&path, "%s/trees/%s.json", c->folder, commit);
	if (!rc)
		rc = fs_read_file(path.buf, CACHE_TREE_MAX, &text, &len);
	if (!rc && !(doc = cJSON_ParseWithLength(text, len)))
		rc = modl_error_set(MODL_EINVALID, "%s: invalid JSON", path.buf);
	const cJSON *files = rc ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "files");
	if (!rc && !cJSON_IsObject(files))
		rc = modl_error_set(MODL_EINVALID, "%s: no \"files\" object", path.buf);
	/* Rebuild the listing's shape so that the same checks apply. */
	cJSON *page = rc ? NULL : cJSON_CreateArray();
	const cJSON *f, *list = rc ? NULL : files;
	cJSON_ArrayForEach(f, list)
	{
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToArray(page, e);
		cJSON_AddStringToObject(e, "type", "file");
		cJSON_AddStringToObject(e, "path", f->string);
		const cJSON *v;
		if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(f, "blob_id")))
			cJSON_AddStringToObject(e, "oid", v->valuestring);
		if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(f, "size")))
			cJSON_AddNumberToObject(e, "size", v->valuedouble);
		if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(f, "lfs_sha256"))) {
			cJSON *lfs = cJSON_AddObjectToObject(e, "lfs");
			cJSON_AddStringToObject(lfs, "oid", v->valuestring);
		}
	}
	if (!rc)
		rc = hub_tree_add_page(tree, page, path.buf);
	cJSON_Delete(page);
	cJSON_Delete(doc);
	free(text);
	strbuf_free(&path);
	if (rc)
		hub_tree_free(tree);
	return rc;
}
