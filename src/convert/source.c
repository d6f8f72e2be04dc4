/* Where a conversion reads from: SRC as a directory, or as REPO[@REV] resolved in the
 * Hugging Face cache to its snapshot directory (the ref, or the commit itself); and the
 * small file helpers the other parts share. */
#include "convert_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/json_keys.h"
#include "formats/json_scan.h"
#include "cache/cache.h"
#include "util/error.h"
#include "util/fs.h"
#include "hub/hub.h"
#include "util/strbuf.h"
#include "util/hash.h"

int convert_read_file(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	int rc = strbuf_addf(&path, "%s/%s", dir, name);
	*out = NULL;
	if (rc)
		return rc;
	if (stat(path.buf, &st) != 0 && errno == ENOENT) {
		strbuf_free(&path);
		return MODL_ENOTFOUND;
	}
	if (!rc && !S_ISREG(st.st_mode))
		rc = modl_error_set(MODL_EINVALID, "%s: not a regular file", path.buf);
	if (!rc)
		rc = fs_read_file(path.buf, max, out, len);
	strbuf_free(&path);
	return rc;
}

/* cJSON keeps two members of one object with the same key: refuse them. */
static int check_unique(const cJSON *node, const char *path)
{
	const cJSON *object = NULL;
	const char *key = NULL;
	int rc = json_duplicate_key(node, &object, &key);
	if (rc == 1)
		return modl_error_set(MODL_EINVALID, "%s: duplicate key \"%s\"", path, key);
	return rc ? modl_error_oom() : 0;
}

int convert_parse_json(const char *path, const char *text, size_t len, cJSON **out)
{
	struct json_scan s;
	size_t bad;
	*out = NULL;
	if (fmt_utf8_check(text, len, &bad))
		return modl_error_set(MODL_EINVALID, "%s: not valid UTF-8 (offset %zu)", path, bad);
	json_scan_init(&s, text, len);
	if (json_scan_validate(&s))
		return modl_error_set(MODL_EINVALID, "%s: invalid JSON at offset %zu: %s", path, s.error_pos,
				      s.error);
	if (!(*out = cJSON_ParseWithLength(text, len)))
		return modl_error_oom();
	int rc = check_unique(*out, path);
	if (rc) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

int convert_fmt_failure(int rc, const char *path, const char *message)
{
	/* A file missing from a checkpoint (a shard, config.json, the tokenizer) makes the
	 * checkpoint invalid input (exit 8), not a "not found" of what the user named. */
	return modl_error_from_fmt(rc == FMT_ENOTFOUND ? FMT_EINVALID : rc, path, message);
}

int convert_resolve_source(const struct convert_options *o, char **dir, char **repo_id)
{
	struct hub_repo repo;
	struct cache_repo cache = { 0 };
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	char commit[HASH_COMMIT_BUF];
	int rc;
	*dir = *repo_id = NULL;
	if (stat(o->source, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return modl_error_set(MODL_EUSAGE,
					      "convert: %s is not a directory (SRC is a model directory "
					      "or a cached REPO[@REV])",
					      o->source);
		return (*dir = strdup(o->source)) ? 0 : modl_error_oom();
	}
	if (hub_parse_repo(o->source, HUB_MODEL, &repo)) {
		modl_error_clear();
		return modl_error_set(MODL_ENOTFOUND, "%s: no such directory, and not a repo id", o->source);
	}
	if (!o->settings || !o->settings->hub_cache)
		return modl_error_set(MODL_ENOTFOUND, "%s: no such directory", o->source);
	if ((rc = cache_repo_init(&cache, o->settings->hub_cache, &repo)))
		return rc;
	const char *rev = repo.revision[0] ? repo.revision : "main";
	if (hub_is_commit(rev)) {
		memcpy(commit, rev, 41);
	} else if (cache_read_ref(&cache, rev, commit)) {
		modl_error_clear();
		rc = modl_error_set(MODL_ENOTFOUND,
				    "%s@%s is not in the cache (%s); run 'modl pull %s' first", repo.id, rev,
				    o->settings->hub_cache, o->source);
		goto out;
	}
	if ((rc = cache_snapshot_dir(&cache, commit, &sb)))
		goto out;
	if (stat(sb.buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = modl_error_set(MODL_ENOTFOUND,
				    "%s@%.12s is not in the cache (no %s); run 'modl pull %s' first", repo.id,
				    commit, sb.buf, o->source);
		goto out;
	}
	if (!(*dir = strbuf_take(&sb)) || !(*repo_id = strdup(repo.id)))
		rc = modl_error_oom();
out:
	strbuf_free(&sb);
	cache_repo_free(&cache);
	if (rc) {
		free(*dir);
		free(*repo_id);
		*dir = *repo_id = NULL;
	}
	return rc;
}
