#include "source.h"
#include "cache/cache.h"
#include "util/error.h"
#include "hub/http.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Folders deeper than this are not searched (original/, licenses/, ...). */
#define MAX_DEPTH 6

/* ---- which files ------------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Extensions that are never license texts, even when the name says LICENSE. */
static int binary_extension(const char *ext)
{
	/* clang-format off */
	static const char *const list[] = {
		"pdf", "png", "jpg", "jpeg", "gif", "svg", "webp", "zip", "gz", "tgz", "bz2", "xz",
		"zst", "tar", "bin", "safetensors", "gguf", "pt", "pth", "onnx", "h5", "msgpack",
		"ckpt", "pkl", "npz", "npy", "json", "py", "sh", "yaml", "yml", NULL,
	};
	/* clang-format on */
	for (const char *const *e = list; *e; e++)
		if (!strcasecmp(ext, *e))
			return 1;
	return 0;
}

int license_role_of_path(const char *path)
{
	static const struct {
		const char *prefix;
		enum license_role role;
		/* clang-format off */
	} prefixes[] = {
		{ "LICENSE", LICENSE_ROLE_LICENSE },   { "LICENCE", LICENSE_ROLE_LICENSE },
		{ "COPYING", LICENSE_ROLE_LICENSE },   { "USE_POLICY", LICENSE_ROLE_POLICY },
		{ "USE-POLICY", LICENSE_ROLE_POLICY }, { "NOTICE", LICENSE_ROLE_NOTICE },
	};
	/* clang-format on */
	const char *name = base_name(path);
	const char *dot = strrchr(name, '.');
	if (dot && binary_extension(dot + 1))
		return -1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i].prefix);
		if (!strncasecmp(name, prefixes[i].prefix, n) && (name[n] == '\0' || strchr(".-_ ", name[n])))
			return (int)prefixes[i].role;
	}
	return -1;
}

static int is_card(const char *path)
{
	return !strcasecmp(path, "README.md");
}

/* ---- the report's lists ------------------------------------------------------------------ */

int license_strings_add(struct license_strings *list, const char *s)
{
	char **grown = realloc(list->items, (list->count + 1) * sizeof(*list->items));
	if (!grown)
		return modl_error_oom();
	list->items = grown;
	if (!(list->items[list->count] = strdup(s)))
		return modl_error_oom();
	list->count++;
	return 0;
}

int license_strings_addf(struct license_strings *list, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!s)
		return modl_error_oom();
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = license_strings_add(list, s);
	free(s);
	return rc;
}

int license_strings_has(const struct license_strings *list, const char *s)
{
	for (size_t i = 0; i < list->count; i++)
		if (!strcmp(list->items[i], s))
			return 1;
	return 0;
}

void license_strings_free(struct license_strings *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* Room for one more file entry: grown geometrically, so that a repository with thousands
 * of license files costs linear time, and bounded by LICENSE_FILES_MAX. */
int license_files_reserve(struct license_report *r)
{
	if (r->file_count >= LICENSE_FILES_MAX)
		return modl_error_set(MODL_EINVALID,
				      "%s: more than %u license-like files (LICENSE*, "
				      "COPYING*, NOTICE*, USE_POLICY*), the limit of an audit: refusing to "
				      "audit only part of them",
				      r->location ? r->location : "repository", LICENSE_FILES_MAX);
	if (r->file_count < r->files_alloc)
		return 0;
	size_t alloc = r->files_alloc ? r->files_alloc * 2 : 16;
	struct license_file *grown = realloc(r->files, alloc * sizeof(*r->files));
	if (!grown)
		return modl_error_oom();
	r->files = grown;
	r->files_alloc = alloc;
	return 0;
}

/* A new file entry; takes text (may be NULL with a note). Every text counts against
 * LICENSE_TEXT_TOTAL_MAX, which bounds the memory an audit takes. */
static int add_file(struct license_report *r, const char *path, enum license_role role, char *text,
		    size_t len, const char *note)
{
	int rc = license_files_reserve(r);
	if (!rc && len > LICENSE_TEXT_TOTAL_MAX - r->text_bytes)
		rc = modl_error_set(MODL_EINVALID,
				    "%s: the license-like files hold more than %u MiB of "
				    "text, the limit of an audit: refusing to audit only part of them",
				    r->location ? r->location : "repository", LICENSE_TEXT_TOTAL_MAX >> 20);
	if (rc) {
		free(text);
		return rc;
	}
	r->text_bytes += len;
	struct license_file *f = &r->files[r->file_count];
	memset(f, 0, sizeof(*f));
	f->role = role;
	f->text = text;
	f->len = len;
	f->read = text != NULL;
	f->path = strdup(path);
	f->note = note ? strdup(note) : NULL;
	r->file_count++;
	if (!f->path || (note && !f->note))
		return modl_error_oom();
	return 0;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct license_file *)a)->path, ((const struct license_file *)b)->path);
}

/* truncated: text is the first LICENSE_FILE_MAX bytes of a larger card. */
static int set_card(struct license_report *r, const char *source, const char *text, size_t len, int truncated)
{
	int rc = license_card_parse_prefix(text, len, truncated, source, &r->card);
	if (!rc)
		r->card_read = 1;
	return rc;
}

/* ---- a directory ----------------------------------------------------------------------- */

/* Up to max bytes of path (a card's front matter is at its start). */
static int read_prefix(const char *path, size_t max, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno, "%s", path);
	char *buf = malloc(max + 1);
	size_t got = 0;
	int rc = buf ? 0 : modl_error_oom();
	while (!rc && got < max) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot read %s", path);
		else if (n == 0)
			break;
		else
			got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int visit(struct license_report *r, const char *root, const char *rel, int depth);

static int visit_entry(struct license_report *r, const char *root, const char *rel, const char *name,
		       int depth)
{
	struct strbuf full = STRBUF_INIT, path = STRBUF_INIT;
	struct stat st;
	int rc = strbuf_addf(&path, "%s%s%s", rel, *rel ? "/" : "", name);
	if (!rc)
		rc = strbuf_addf(&full, "%s/%s", root, path.buf);
	if (rc)
		goto out;
	if (lstat(full.buf, &st) != 0)
		goto out;
	int link = S_ISLNK(st.st_mode);
	/* File links are followed (cache snapshots are made of them); folder links are not,
	 * so that no loop can form. */
	if (link && stat(full.buf, &st) != 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		if (!link && depth < MAX_DEPTH && strcmp(name, ".git") && strcmp(name, ".cache"))
			rc = visit(r, root, path.buf, depth + 1);
		goto out;
	}
	if (!S_ISREG(st.st_mode))
		goto out;
	if (depth == 0 && is_card(name)) {
		char *text = NULL;
		size_t len = 0;
		if (!(rc = read_prefix(full.buf, LICENSE_FILE_MAX, &text, &len)))
			rc = set_card(r, full.buf, text, len,
				      (unsigned long long)st.st_size > LICENSE_FILE_MAX);
		free(text);
		goto out;
	}
	int role = license_role_of_path(name);
	if (role < 0)
		goto out;
	if ((unsigned long long)st.st_size > LICENSE_FILE_MAX) {
		rc = add_file(r, path.buf, (enum license_role)role, NULL, 0, "larger than 1 MiB: not read");
		goto out;
	}
	char *text = NULL;
	size_t len = 0;
	if ((rc = read_prefix(full.buf, LICENSE_FILE_MAX, &text, &len)))
		goto out;
	rc = add_file(r, path.buf, (enum license_role)role, text, len, NULL);
out:
	strbuf_free(&full);
	strbuf_free(&path);
	return rc;
}

static int visit(struct license_report *r, const char *root, const char *rel, int depth)
{
	struct strbuf dir = STRBUF_INIT;
	char **names = NULL;
	size_t count = 0, alloc = 0;
	int rc = strbuf_addf(&dir, "%s%s%s", root, *rel ? "/" : "", rel);
	DIR *d = rc ? NULL : opendir(dir.buf);
	if (!rc && !d) {
		rc = depth == 0 ? modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno, "%s",
						   dir.buf)
				: 0;
		goto out;
	}
	/* In name order, so that reports do not depend on the file system. */
	for (struct dirent *e; !rc && d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 32;
			char **grown = realloc(names, alloc * sizeof(*names));
			if (!grown) {
				rc = modl_error_oom();
				break;
			}
			names = grown;
		}
		if (!(names[count] = strdup(e->d_name)))
			rc = modl_error_oom();
		else
			count++;
	}
	if (d)
		closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), cmp_names);
	for (size_t i = 0; !rc && i < count; i++)
		rc = visit_entry(r, root, rel, names[i], depth);
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	strbuf_free(&dir);
	return rc;
}

int license_collect_dir(struct license_report *r, const char *dir)
{
	int rc = visit(r, dir, "", 0);
	if (!rc)
		if (r->file_count)
			qsort(r->files, r->file_count, sizeof(*r->files), cmp_files);
	return rc;
}

/* ---- the Hub ------------------------------------------------------------------------------ */

/* GETs path at rev. *text is NULL with *note when the file is not there or not readable
 * with these credentials (a gated repository); other failures are returned. */
static int hub_get(struct hub *hub, const struct hub_repo *repo, const char *rev, const char *path,
		   unsigned long long size, char **text, size_t *len, char **note)
{
	struct strbuf url = STRBUF_INIT;
	struct http_response resp;
	char what[512];
	*text = NULL;
	*note = NULL;
	http_response_init(&resp);
	snprintf(what, sizeof(what), "file %s in %s@%.12s", path, repo->id, rev);
	int rc = hub_resolve_url(hub, repo, rev, path, &url);
	if (rc)
		goto out;
	/* Small files come through a redirect to /api/resolve-cache on the same host; a file
	 * in LFS through one to the CDN. Only the first MiB is asked for. */
	struct http_request req = {
		.method = "GET",
		.url = url.buf,
		.range_start = -1,
		.range_end = -1,
		.redirects = HTTP_REDIRECT_ALL,
		.identity = 1,
		.max_body = LICENSE_FILE_MAX + 1,
	};
	if (size > LICENSE_FILE_MAX) {
		req.range_start = 0;
		req.range_end = LICENSE_FILE_MAX - 1;
	}
	if ((rc = http_perform(hub_http(hub), &req, &resp)))
		goto out;
	if (resp.status == 200 || resp.status == 206) {
		*len = resp.body.len;
		*text = strbuf_take(&resp.body);
		if (!*text && !(*text = strdup("")))
			rc = modl_error_oom();
		goto out;
	}
	rc = hub_error_from_response(hub, &resp, repo, what);
	if (rc == MODL_ENOTFOUND || rc == MODL_EAUTH) {
		*note = strdup(rc == MODL_EAUTH ? "access denied (a gated or private repository whose "
						  "conditions were not accepted with this token)"
						: "not found");
		modl_error_clear();
		rc = *note ? 0 : modl_error_oom();
	}
out:
	http_response_free(&resp);
	strbuf_free(&url);
	return rc;
}

static int cmp_entry_oids(const void *a, const void *b)
{
	return strcmp((*(const struct hub_entry *const *)a)->oid, (*(const struct hub_entry *const *)b)->oid);
}

/* The license-like files of tree, or MODL_EINVALID when there are more than an audit
 * reads (before any is fetched); sorted by object id, so that copies come together. */
static int license_entries(const struct license_report *r, const struct hub_tree *tree,
			   const struct hub_entry ***out, size_t *count)
{
	const struct hub_entry **list = NULL;
	size_t n = 0;
	for (size_t i = 0; i < tree->count; i++)
		n += !tree->entries[i].is_dir && license_role_of_path(tree->entries[i].path) >= 0;
	*out = NULL;
	*count = 0;
	if (n > LICENSE_FILES_MAX)
		return modl_error_set(MODL_EINVALID,
				      "%s: %zu license-like files (LICENSE*, COPYING*, "
				      "NOTICE*, USE_POLICY*), more than the %u of an audit: refusing to "
				      "audit only part of them",
				      r->location ? r->location : "repository", n, LICENSE_FILES_MAX);
	if (n && !(list = malloc(n * sizeof(*list))))
		return modl_error_oom();
	n = 0;
	for (size_t i = 0; i < tree->count; i++)
		if (!tree->entries[i].is_dir && license_role_of_path(tree->entries[i].path) >= 0)
			list[n++] = &tree->entries[i];
	if (n)
		qsort(list, n, sizeof(*list), cmp_entry_oids);
	*out = list;
	*count = n;
	return 0;
}

/* The card, from the Hub; *listed tells whether the tree has one. */
static int hub_card(struct license_report *r, struct hub *hub, const struct hub_repo *repo,
		    const char *commit, const struct hub_tree *tree, int *listed)
{
	int rc = 0;
	*listed = 0;
	for (size_t i = 0; !rc && i < tree->count; i++) {
		const struct hub_entry *e = &tree->entries[i];
		char *text = NULL, *note = NULL;
		size_t len = 0;
		if (e->is_dir || !is_card(e->path))
			continue;
		*listed = 1;
		rc = hub_get(hub, repo, commit, e->path, e->size, &text, &len, &note);
		if (!rc && text) {
			struct strbuf source = STRBUF_INIT;
			if (!(rc = strbuf_addf(&source, "%s@%.12s/%s", repo->id, commit, e->path)))
				rc = set_card(r, source.buf, text, len, e->size > LICENSE_FILE_MAX);
			strbuf_free(&source);
		}
		free(text);
		free(note);
	}
	return rc;
}

/* The same object as the file added last (a copy of a license in another folder): its
 * text again, without asking the Hub a second time. */
static int add_copy(struct license_report *r, const char *path, enum license_role role)
{
	const struct license_file *last = &r->files[r->file_count - 1];
	char *text = NULL;
	if (last->read) {
		if (!(text = malloc(last->len + 1)))
			return modl_error_oom();
		memcpy(text, last->text, last->len);
		text[last->len] = '\0';
	}
	return add_file(r, path, role, text, last->len, last->note);
}

int license_collect_hub(struct license_report *r, struct hub *hub, const struct hub_repo *repo,
			const char *commit, const struct hub_tree *tree, const cJSON *card_data)
{
	const struct hub_entry **list = NULL;
	size_t count = 0;
	int card_listed = 0;
	int rc = license_entries(r, tree, &list, &count);
	if (!rc)
		rc = hub_card(r, hub, repo, commit, tree, &card_listed);
	for (size_t i = 0; !rc && i < count; i++) {
		const struct hub_entry *e = list[i];
		enum license_role role = (enum license_role)license_role_of_path(e->path);
		char *text = NULL, *note = NULL;
		size_t len = 0;
		if (i && e->oid[0] && !strcmp(e->oid, list[i - 1]->oid)) {
			rc = add_copy(r, e->path, role);
			continue;
		}
		if (e->size > LICENSE_FILE_MAX) {
			rc = add_file(r, e->path, role, NULL, 0, "larger than 1 MiB: not read");
			continue;
		}
		if (!(rc = hub_get(hub, repo, commit, e->path, e->size, &text, &len, &note)))
			rc = add_file(r, e->path, role, text, len, note);
		free(note);
	}
	free(list);
	/* A card the Hub would not give (gated): its fields from the repo info instead. */
	if (!rc && !r->card_read && card_data) {
		struct strbuf source = STRBUF_INIT;
		if (!(rc = strbuf_addf(&source, "%s (repo info)", repo->id)))
			rc = license_card_from_json(card_data, source.buf, &r->card);
		r->card_read = !rc && card_listed;
		strbuf_free(&source);
	}
	if (!rc)
		if (r->file_count)
			qsort(r->files, r->file_count, sizeof(*r->files), cmp_files);
	return rc;
}

/* ---- base models' cards ---------------------------------------------------------------------- */

static int cached_card(const char *cache_root, const struct hub_repo *repo, char **text, size_t *len)
{
	struct cache_repo c = { 0 };
	struct strbuf path = STRBUF_INIT;
	char commit[HASH_COMMIT_BUF];
	int rc = cache_repo_init(&c, cache_root, repo);
	if (!rc)
		rc = cache_read_ref(&c, "main", commit);
	if (!rc)
		rc = cache_snapshot_dir(&c, commit, &path);
	if (!rc)
		rc = strbuf_adds(&path, "/README.md");
	if (!rc)
		rc = read_prefix(path.buf, LICENSE_FILE_MAX, text, len);
	cache_repo_free(&c);
	strbuf_free(&path);
	if (rc)
		modl_error_clear();
	return rc ? -1 : 0;
}

int license_fetch_card(struct hub *hub, const char *cache_root, const char *repo_id, int prefer_cache,
		       char **text, size_t *len, const char **via, char **note)
{
	struct hub_repo repo;
	*text = NULL;
	*note = NULL;
	*via = NULL;
	if (hub_parse_repo(repo_id, HUB_MODEL, &repo) || repo.revision[0]) {
		modl_error_clear();
		*note = strdup("not a repository id");
		return *note ? 0 : modl_error_oom();
	}
	if (cache_root && (prefer_cache || !hub) && cached_card(cache_root, &repo, text, len) == 0) {
		*via = "cache";
		return 0;
	}
	if (!hub) {
		*note = strdup(
			"not in the cache (audit it with 'modl license REPO' to read it from the Hub)");
		return *note ? 0 : modl_error_oom();
	}
	int rc = hub_get(hub, &repo, "main", "README.md", 0, text, len, note);
	if (!rc && *text)
		*via = "hub";
	return rc;
}
