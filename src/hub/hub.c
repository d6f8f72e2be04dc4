#include "hub.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/version.h"
#include "util/hash.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_REPO_NAME_MAX 96
#define HUB_TREE_MAX_PAGES 100000 /* a hostile Link loop ends here */
/* Limits of one tree listing (documented in modl(1), adjustable for tests): entries
 * kept, and bytes of JSON answers read for them, all pages together. */
#define HUB_LISTING_MAX_ENTRIES 1000000u
#define HUB_LISTING_MAX_BYTES (512u << 20)
#define HUB_NAME_MAX 255  /* one path component (NAME_MAX of Linux and macOS) */
#define HUB_PATH_MAX 4096 /* a whole path joined to its directory (PATH_MAX of Linux) */

struct hub {
	struct http_client *http;
	char *endpoint;
	int has_token;
	const char *token_source;
};

/* ---- repo ids -------------------------------------------------------------------------- */

static const char *const type_names[] = { "model", "dataset", "space" };
static const char *const type_api[] = { "models", "datasets", "spaces" };
static const char *const type_url_prefix[] = { "", "datasets/", "spaces/" };

const char *hub_repo_type_name(enum hub_repo_type type)
{
	return type_names[type];
}

int hub_parse_repo_type(const char *name, enum hub_repo_type *out)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, type_names[i]) || !strcmp(name, type_api[i])) {
			*out = (enum hub_repo_type)i;
			return 0;
		}
	return modl_error_set(MODL_EUSAGE, "unknown repo type '%s' (model, dataset or space)", name);
}

int hub_is_commit(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
			return 0;
	return n == HASH_SHA1_HEX;
}

/* The Hub's rule: [\w.-] characters, at most one '/', no "--" or "..", and no part that
 * starts or ends with '-' or '.'. */
static int repo_part_valid(const char *s, size_t len)
{
	if (len == 0 || len > HUB_REPO_NAME_MAX)
		return 0;
	if (s[0] == '-' || s[0] == '.' || s[len - 1] == '-' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return 0;
		if (i && (c == '-' || c == '.') && s[i - 1] == c)
			return 0;
	}
	return 1;
}

static int repo_id_valid(const char *id)
{
	const char *slash = strchr(id, '/');
	if (!slash)
		return repo_part_valid(id, strlen(id));
	return !strchr(slash + 1, '/') && repo_part_valid(id, (size_t)(slash - id)) &&
	       repo_part_valid(slash + 1, strlen(slash + 1));
}

int hub_parse_repo(const char *arg, enum hub_repo_type type, struct hub_repo *out)
{
	memset(out, 0, sizeof(*out));
	out->type = type;
	const char *p = arg;
	if (!strncmp(p, "hf://", 5)) {
		p += 5;
		for (int i = 0; i < 3; i++) {
			size_t n = strlen(type_api[i]);
			if (!strncmp(p, type_api[i], n) && p[n] == '/') {
				out->type = (enum hub_repo_type)i;
				p += n + 1;
				break;
			}
		}
	}
	const char *at = strchr(p, '@');
	size_t id_len = at ? (size_t)(at - p) : strlen(p);
	if (id_len >= sizeof(out->id))
		return modl_error_set(MODL_EUSAGE, "'%s' is not a valid repo id (too long)", arg);
	memcpy(out->id, p, id_len);
	if (!repo_id_valid(out->id))
		return modl_error_set(MODL_EUSAGE, "'%s' is not a valid repo id (expected namespace/name)",
				      arg);
	if (at) {
		const char *rev = at + 1;
		if (!*rev || strlen(rev) >= sizeof(out->revision))
			return modl_error_set(MODL_EUSAGE, "'%s': empty or too long revision", arg);
		for (const char *c = rev; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return modl_error_set(MODL_EUSAGE, "'%s': invalid revision", arg);
		strcpy(out->revision, rev);
	}
	return 0;
}

int hub_parse_repo_typed(const char *arg, const char *type_name, struct hub_repo *out)
{
	enum hub_repo_type type;
	int rc = hub_parse_repo_type(type_name, &type);
	return rc ? rc : hub_parse_repo(arg, type, out);
}

/* ---- client ---------------------------------------------------------------------------- */

static unsigned env_uint(const char *name, unsigned fallback)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return fallback;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	return *end || n > 3600000UL ? fallback : (unsigned)n;
}

static int hub_open_token(struct hub **out, const struct modl_settings *s, const char *token,
			  const char *token_source, int verbose)
{
	struct hub *hub = calloc(1, sizeof(*hub));
	if (!hub || !(hub->endpoint = strdup(s->endpoint))) {
		free(hub);
		return modl_error_oom();
	}
	struct http_client_options o = {
		.user_agent = "modl/" MODL_VERSION,
		.auth_origin = s->endpoint,
		.token = token,
		.verbose = verbose,
		.retry_base_ms = env_uint("MODL_RETRY_BASE_MS", 1000),
		.max_retries = (int)env_uint("MODL_MAX_RETRIES", 5), /* 0: no retry */
		.connect_timeout_s = (long)env_uint("HF_HUB_ETAG_TIMEOUT", 10),
		.stall_timeout_s = (long)env_uint("HF_HUB_DOWNLOAD_TIMEOUT", 10),
		.low_speed_bps = (long)env_uint("MODL_LOW_SPEED_BPS", 1024),
		.max_retry_wait_s = (long)env_uint("MODL_MAX_RETRY_WAIT", 60),
		.request_deadline_s = (long)env_uint("MODL_REQUEST_DEADLINE", 300),
	};
	int rc = http_client_new(&hub->http, &o);
	if (rc) {
		free(hub->endpoint);
		free(hub);
		return rc;
	}
	hub->has_token = token != NULL;
	hub->token_source = token_source;
	*out = hub;
	return 0;
}

int hub_open(struct hub **out, const struct modl_settings *s, int verbose)
{
	const char *source = NULL;
	const char *token = settings_token(s, &source); /* the token file is read here, once */
	return hub_open_token(out, s, token, source, verbose);
}

void hub_close(struct hub *hub)
{
	if (!hub)
		return;
	http_client_free(hub->http);
	free(hub->endpoint);
	free(hub);
}

struct http_client *hub_http(struct hub *hub)
{
	return hub->http;
}

const char *hub_endpoint(const struct hub *hub)
{
	return hub->endpoint;
}

/* ---- errors ---------------------------------------------------------------------------- */

/* The server's own explanation, from X-Error-Message or a JSON {"error": ...} body,
 * cut to one printable line (it is untrusted text that goes to the terminal). */
static void server_message(const struct http_response *resp, char *out, size_t size)
{
	const char *msg = http_response_header(resp, "X-Error-Message");
	cJSON *json = NULL;
	out[0] = '\0';
	if (!msg && resp->body.len) {
		json = cJSON_ParseWithLength(resp->body.buf, resp->body.len);
		cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error");
		if (!cJSON_IsString(e))
			e = cJSON_GetObjectItemCaseSensitive(json, "error_description");
		msg = cJSON_IsString(e) ? e->valuestring : NULL;
	}
	if (msg) {
		size_t j = 0;
		for (size_t i = 0; msg[i] && j + 1 < size; i++)
			out[j++] = (unsigned char)msg[i] < 0x20 ? ' ' : msg[i];
		out[j] = '\0';
	}
	cJSON_Delete(json);
}

int hub_error_from_response(const struct hub *hub, const struct http_response *resp,
			    const struct hub_repo *repo, const char *what)
{
	const char *code = http_response_header(resp, "X-Error-Code");
	const char *xmsg = http_response_header(resp, "X-Error-Message");
	char msg[300];
	long status = resp->status;
	server_message(resp, msg, sizeof(msg));
	const char *token_note = hub->has_token ? "a token was sent" : "no token was sent";

	if (status == 401 && xmsg && strstr(xmsg, "Invalid credentials"))
		return modl_error_set(MODL_EAUTH,
				      "%s: the token (from %s) was refused as invalid; run 'modl login' "
				      "with a valid token or unset it",
				      hub->endpoint, hub->token_source ? hub->token_source : "?");
	if (code && !strcmp(code, "GatedRepo"))
		return modl_error_set(MODL_EAUTH,
				      "%s is gated: accept its terms at %s/%s%s and use a token of that "
				      "account (%s)",
				      repo->id, hub->endpoint, type_url_prefix[repo->type], repo->id,
				      token_note);
	if (xmsg && strstr(xmsg, "disabled"))
		return modl_error_set(MODL_EAUTH, "%s: access to this repository is disabled", repo->id);
	if (code && !strcmp(code, "RevisionNotFound"))
		return modl_error_set(MODL_ENOTFOUND, "revision '%s' not found in %s",
				      repo->revision[0] ? repo->revision : "main", repo->id);
	if (code && !strcmp(code, "EntryNotFound"))
		return modl_error_set(MODL_ENOTFOUND, "%s not found", what);
	if ((code && !strcmp(code, "RepoNotFound")) || status == 404 || (status == 401 && !hub->has_token))
		return modl_error_set(MODL_ENOTFOUND, "%s %s not found%s", hub_repo_type_name(repo->type),
				      repo->id,
				      hub->has_token ? " (or the token cannot read it)"
						     : " (if it is private, log in with 'modl login' "
						       "or set HF_TOKEN)");
	if (status == 401 || status == 403)
		return modl_error_set(MODL_EAUTH, "%s: access denied (HTTP %ld, %s)%s%s", what, status,
				      token_note, msg[0] ? ": " : "", msg);
	if (status == 429) {
		long after = http_retry_after_seconds(resp);
		return modl_error_set(MODL_ENET, "%s: rate limited by the Hub after retries%s", what,
				      after >= 0 ? "; try again later" : "");
	}
	if (status >= 500)
		return modl_error_set(MODL_ENET, "%s: server error HTTP %ld after retries%s%s", what, status,
				      msg[0] ? ": " : "", msg);
	return modl_error_set(MODL_EFAIL, "%s: unexpected HTTP %ld%s%s", what, status, msg[0] ? ": " : "",
			      msg);
}

/* ---- requests -------------------------------------------------------------------------- */

static int api_get_json(struct hub *hub, const char *url, const struct hub_repo *repo, const char *what,
			struct http_response *resp, cJSON **out)
{
	const char *headers[] = { "Accept: application/json", NULL };
	struct http_request req = {
		.method = "GET",
		.url = url,
		.headers = headers,
		.range_start = -1,
		.range_end = -1,
		.redirects = HTTP_REDIRECT_ALL,
	};
	int rc = http_perform(hub->http, &req, resp);
	if (rc)
		return rc;
	if (resp->status < 200 || resp->status >= 300)
		return hub_error_from_response(hub, resp, repo, what);
	return hub_json_parse(resp->body.buf, resp->body.len, url, out);
}

int hub_json_parse(const char *text, size_t len, const char *source, cJSON **out)
{
	/* cJSON silently cuts a string at an escaped NUL, which would turn a listed
	 * "a\u0000/../x" into "a": refuse such answers outright. */
	for (size_t i = 0; i + 6 <= len; i++)
		if (text[i] == '\\' && !memcmp(text + i + 1, "u0000", 5))
			return modl_error_set(MODL_EINVALID, "%s: the Hub's answer holds a NUL character",
					      source);
	const char *end = NULL;
	*out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!*out)
		return modl_error_set(MODL_EINVALID, "%s: the Hub answered with invalid JSON", source);
	/* cJSON stops after the first value: anything but white space after it means the
	 * body is longer than the document (a hostile or broken server). */
	while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end < text + len) {
		cJSON_Delete(*out);
		*out = NULL;
		return modl_error_set(MODL_EINVALID,
				      "%s: the Hub's answer has %zu bytes after its JSON "
				      "document",
				      source, (size_t)(text + len - end));
	}
	return 0;
}

static int repo_api_url(const struct hub *hub, const struct hub_repo *repo, struct strbuf *sb)
{
	return strbuf_addf(sb, "%s/api/%s/%s", hub->endpoint, type_api[repo->type], repo->id);
}

int hub_repo_info(struct hub *hub, const struct hub_repo *repo, int blobs, cJSON **out)
{
	struct strbuf url = STRBUF_INIT;
	struct http_response resp;
	http_response_init(&resp);
	int rc = repo_api_url(hub, repo, &url);
	if (!rc && repo->revision[0]) {
		rc = strbuf_adds(&url, "/revision/");
		if (!rc)
			rc = strbuf_add_urlencoded(&url, repo->revision, 0);
	}
	if (!rc && blobs)
		rc = strbuf_adds(&url, "?blobs=true");
	if (!rc)
		rc = api_get_json(hub, url.buf, repo, repo->id, &resp, out);
	if (!rc && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = modl_error_set(MODL_EINVALID, "%s: repo info is not a JSON object", url.buf);
	}
	http_response_free(&resp);
	strbuf_free(&url);
	return rc;
}

/* Decodes one UTF-8 sequence at s (strict: no overlong forms, surrogates or code points
 * past U+10FFFF); returns its length, 0 when it is not UTF-8. */
static size_t utf8_decode(const unsigned char *s, unsigned long *cp)
{
	size_t n;
	unsigned long c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, c = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, c = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points that must not reach a terminal or a file name: C0 and C1 controls, DEL,
 * and the invisible marks that reorder or hide text (bidi embeddings, overrides and
 * isolates, LRM/RLM/ALM) or break lines (U+2028, U+2029). */
static int codepoint_refused(unsigned long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Why a repository path is unsafe, or NULL when it is not. */
static const char *path_problem(const char *path)
{
	if (!path[0])
		return "empty";
	if (path[0] == '/')
		return "absolute";
	for (const unsigned char *p = (const unsigned char *)path; *p;) {
		unsigned long c;
		size_t n = utf8_decode(p, &c);
		if (!n)
			return "not UTF-8";
		if (codepoint_refused(c))
			return c <= 0x9f ? "control character" : "bidirectional or invisible mark";
		if (c == '\\')
			return "backslash";
		p += n;
	}
	/* No empty, "." or ".." component. */
	for (const char *seg = path;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0)
			return "empty component";
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return "'.' or '..' component";
		if (!end)
			return NULL;
		seg = end + 1;
	}
}

int hub_path_is_safe(const char *path)
{
	return path_problem(path) == NULL;
}

/* A listed path for a message: printable ASCII as it is, every other byte as \xNN,
 * cut at about 160 bytes (it came from the server and goes to a terminal). */
static const char *path_for_message(const char *path, char out[700])
{
	size_t j = 0;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (j >= 160) {
			memcpy(out + j, "...", 4);
			return out;
		}
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[j++] = (char)*p;
		else
			j += (size_t)snprintf(out + j, 5, "\\x%02x", *p);
	}
	out[j] = '\0';
	return out;
}

static int is_lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

static int tree_entry_parse(const cJSON *item, const char *url, struct hub_entry *e)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(item, "path");
	const cJSON *oid = cJSON_GetObjectItemCaseSensitive(item, "oid");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
	const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(item, "lfs");
	memset(e, 0, sizeof(*e));
	if (!cJSON_IsString(type) || !cJSON_IsString(path))
		return modl_error_set(MODL_EINVALID, "%s: tree entry without type or path", url);
	const char *problem = path_problem(path->valuestring);
	if (problem) {
		char shown[700];
		return modl_error_set(MODL_EINVALID,
				      "%s: the Hub listed an unsafe path \"%s\" (%s); "
				      "refusing it",
				      url, path_for_message(path->valuestring, shown), problem);
	}
	e->is_dir = !strcmp(type->valuestring, "directory");
	if (!e->is_dir && strcmp(type->valuestring, "file"))
		return modl_error_set(MODL_EINVALID, "%s: unknown tree entry type", url);
	if (cJSON_IsString(oid)) {
		if (!is_lower_hex(oid->valuestring, HASH_SHA1_HEX))
			return modl_error_set(MODL_EINVALID, "%s: %s: oid is not a git sha1", url,
					      path->valuestring);
		memcpy(e->oid, oid->valuestring, 41);
	}
	if (cJSON_IsNumber(size)) {
		if (size->valuedouble < 0 || size->valuedouble > 9.0e15)
			return modl_error_set(MODL_EINVALID, "%s: %s: impossible size", url,
					      path->valuestring);
		e->size = (unsigned long long)size->valuedouble;
	}
	if (cJSON_IsObject(lfs)) {
		const cJSON *sha = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
		const cJSON *lsize = cJSON_GetObjectItemCaseSensitive(lfs, "size");
		if (!cJSON_IsString(sha) || !is_lower_hex(sha->valuestring, HASH_SHA256_HEX))
			return modl_error_set(MODL_EINVALID, "%s: %s: lfs.oid is not a sha256", url,
					      path->valuestring);
		e->lfs = 1;
		memcpy(e->sha256, sha->valuestring, 65);
		if (cJSON_IsNumber(lsize) && lsize->valuedouble >= 0 && lsize->valuedouble <= 9.0e15)
			e->size = (unsigned long long)lsize->valuedouble;
	}
	e->path = strdup(path->valuestring);
	return e->path ? 0 : modl_error_oom();
}

/* A limit from the environment (tests lower them), else the default. */
static size_t listing_limit(const char *name, size_t fallback)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return fallback;
	unsigned long long n = strtoull(v, &end, 10);
	return *end || n == 0 || n > SIZE_MAX ? fallback : (size_t)n;
}

int hub_tree_add_page(struct hub_tree *tree, const cJSON *page, const char *url)
{
	if (!cJSON_IsArray(page))
		return modl_error_set(MODL_EINVALID, "%s: tree listing is not a JSON array", url);
	size_t n = (size_t)cJSON_GetArraySize(page);
	size_t max = listing_limit("MODL_MAX_LISTING_ENTRIES", HUB_LISTING_MAX_ENTRIES);
	if (n > max - tree->count || tree->count > max)
		return modl_error_set(MODL_EINVALID,
				      "%s: the listing has more than %zu entries "
				      "(MODL_MAX_LISTING_ENTRIES); refusing it",
				      url, max);
	struct hub_entry *grown = realloc(tree->entries, (tree->count + n + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_oom();
	tree->entries = grown;
	const cJSON *item;
	cJSON_ArrayForEach(item, page)
	{
		int rc = tree_entry_parse(item, url, &tree->entries[tree->count]);
		if (rc) {
			free(tree->entries[tree->count].path);
			return rc;
		}
		tree->count++;
	}
	return 0;
}

int hub_list_tree(struct hub *hub, const struct hub_repo *repo, const char *revision, const char *path,
		  int recursive, struct hub_tree *out)
{
	struct strbuf url = STRBUF_INIT;
	char *next = NULL;
	int rc = repo_api_url(hub, repo, &url);
	memset(out, 0, sizeof(*out));
	if (!rc)
		rc = strbuf_adds(&url, "/tree/");
	if (!rc)
		rc = strbuf_add_urlencoded(&url, revision[0] ? revision : "main", 0);
	if (!rc && path && *path) {
		rc = strbuf_adds(&url, "/");
		if (!rc)
			rc = strbuf_add_urlencoded(&url, path, 1);
	}
	if (!rc)
		rc = strbuf_addf(&url, "?recursive=%s&expand=false", recursive ? "true" : "false");
	char *current = rc ? NULL : strbuf_take(&url);
	size_t max_bytes = listing_limit("MODL_MAX_LISTING_BYTES", HUB_LISTING_MAX_BYTES);
	size_t bytes = 0;
	for (int pages = 0; !rc && current; pages++) {
		struct http_response resp;
		cJSON *page = NULL;
		char what[512];
		snprintf(what, sizeof(what), "path '%s' in %s", path && *path ? path : "/", repo->id);
		http_response_init(&resp);
		if (pages >= HUB_TREE_MAX_PAGES)
			rc = modl_error_set(MODL_EINVALID, "%s: endless pagination", current);
		if (!rc)
			rc = api_get_json(hub, current, repo, what, &resp, &page);
		if (!rc && (bytes += resp.body.len) > max_bytes)
			rc = modl_error_set(MODL_EINVALID,
					    "%s: the listing's answers exceed %zu bytes "
					    "(MODL_MAX_LISTING_BYTES); refusing it",
					    current, max_bytes);
		/* Only the compact entries are kept: the page's text goes before they are made. */
		strbuf_free(&resp.body);
		if (!rc)
			rc = hub_tree_add_page(out, page, current);
		if (!rc)
			rc = http_link_next(&resp, &next);
		/* Pagination must stay on the endpoint: a Link elsewhere is not followed. */
		if (!rc && next && !http_same_origin(next, hub->endpoint))
			rc = modl_error_set(MODL_EINVALID, "%s: pagination link leaves the endpoint",
					    current);
		cJSON_Delete(page);
		http_response_free(&resp);
		free(current);
		current = next;
		next = NULL;
	}
	free(current);
	strbuf_free(&url);
	if (rc)
		hub_tree_free(out);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct hub_entry *const *x = a, *const *y = b;
	return strcmp((*x)->path, (*y)->path);
}

/* Finds path[0, len) among the sorted entries. */
static const struct hub_entry *sorted_find(const struct hub_entry **sorted, size_t n, const char *path,
					   size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(sorted[mid]->path, path, len);
		if (c == 0 && sorted[mid]->path[len] != '\0')
			c = 1; /* longer than the prefix: sorts after it */
		if (c == 0)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The lengths of one path against the system's limits. */
static int path_fits(const struct hub_entry *e, const char *source, size_t prefix_len, size_t suffix_len)
{
	char shown[700];
	size_t total = strlen(e->path);
	for (const char *seg = e->path;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n + (end || e->is_dir ? 0 : suffix_len) > HUB_NAME_MAX)
			return modl_error_set(MODL_EINVALID,
					      "%s: listed path \"%s\" has a component "
					      "longer than %d bytes; refusing the listing",
					      source, path_for_message(e->path, shown),
					      HUB_NAME_MAX - (int)(end ? 0 : suffix_len));
		if (!end)
			break;
		seg = end + 1;
	}
	if (prefix_len + total + suffix_len >= HUB_PATH_MAX)
		return modl_error_set(MODL_EINVALID,
				      "%s: listed path \"%s\" is too long (%zu bytes; "
				      "with its directory over %d); refusing the listing",
				      source, path_for_message(e->path, shown), total, HUB_PATH_MAX);
	return 0;
}

int hub_tree_validate(const struct hub_tree *tree, const char *source, size_t prefix_len, size_t suffix_len)
{
	char shown[700];
	int rc = 0;
	const struct hub_entry **sorted = malloc((tree->count + 1) * sizeof(*sorted));
	if (!sorted)
		return modl_error_oom();
	for (size_t i = 0; i < tree->count; i++)
		sorted[i] = &tree->entries[i];
	qsort(sorted, tree->count, sizeof(*sorted), entry_cmp);
	for (size_t i = 0; !rc && i < tree->count; i++) {
		const struct hub_entry *e = sorted[i];
		if ((rc = path_fits(e, source, prefix_len, suffix_len)))
			break;
		/* Listed twice is refused even with one hash: a pagination that repeats an
		 * entry may have skipped others, so the listing is not a whole commit. */
		if (i + 1 < tree->count && !strcmp(e->path, sorted[i + 1]->path)) {
			const struct hub_entry *f = sorted[i + 1];
			int same = e->is_dir == f->is_dir && !strcmp(e->oid, f->oid) &&
				   !strcmp(e->sha256, f->sha256);
			rc = modl_error_set(MODL_EINVALID,
					    "%s: path \"%s\" is listed twice (%s); refusing "
					    "the listing",
					    source, path_for_message(e->path, shown),
					    e->is_dir != f->is_dir ? "as a file and as a folder"
					    : same                 ? "with the same hash"
								   : "with two different hashes");
			break;
		}
		/* Every folder on the way must not be a listed file. */
		for (const char *slash = strchr(e->path, '/'); slash; slash = strchr(slash + 1, '/')) {
			const struct hub_entry *parent =
				sorted_find(sorted, tree->count, e->path, (size_t)(slash - e->path));
			if (parent && !parent->is_dir) {
				char shown2[700];
				rc = modl_error_set(MODL_EINVALID,
						    "%s: \"%s\" is listed as a file and as the "
						    "folder of \"%s\"; refusing the listing",
						    source, path_for_message(parent->path, shown2),
						    path_for_message(e->path, shown));
				break;
			}
		}
	}
	free(sorted);
	return rc;
}

void hub_tree_free(struct hub_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++)
		free(tree->entries[i].path);
	free(tree->entries);
	memset(tree, 0, sizeof(*tree));
}

/* ---- files ---------------------------------------------------------------------------- */

int hub_resolve_url(const struct hub *hub, const struct hub_repo *repo, const char *revision,
		    const char *path, struct strbuf *out)
{
	int rc = strbuf_addf(out, "%s/%s%s/resolve/", hub->endpoint, type_url_prefix[repo->type], repo->id);
	if (!rc)
		rc = strbuf_add_urlencoded(out, revision, 0);
	if (!rc)
		rc = strbuf_adds(out, "/");
	if (!rc)
		rc = strbuf_add_urlencoded(out, path, 1);
	return rc;
}

/* W/"abc" or "abc" → abc */
static int normalize_etag(const char *raw, char out[HASH_HEX_BUF])
{
	if (!strncmp(raw, "W/", 2))
		raw += 2;
	size_t len = strlen(raw);
	if (len >= 2 && raw[0] == '"' && raw[len - 1] == '"') {
		raw++;
		len -= 2;
	}
	if (len == 0 || len > 64)
		return -1;
	memcpy(out, raw, len);
	out[len] = '\0';
	return 0;
}

static int parse_size(const char *v, unsigned long long *out)
{
	char *end;
	if (!v || !*v || *v == '-')
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end)
		return -1;
	*out = n;
	return 0;
}

int hub_file_metadata(struct hub *hub, const struct hub_repo *repo, const char *revision, const char *path,
		      struct hub_file_meta *meta)
{
	struct strbuf url = STRBUF_INIT;
	struct http_response resp;
	char what[512];
	memset(meta, 0, sizeof(*meta));
	http_response_init(&resp);
	snprintf(what, sizeof(what), "file %s in %s@%.12s", path, repo->id, revision);
	int rc = hub_resolve_url(hub, repo, revision, path, &url);
	if (rc)
		goto out;
	struct http_request req = {
		.method = "HEAD",
		.url = url.buf,
		.range_start = -1,
		.range_end = -1,
		.redirects = HTTP_REDIRECT_SAME_HOST,
		.identity = 1,
	};
	if ((rc = http_perform(hub->http, &req, &resp)))
		goto out;
	int redirect = resp.status >= 300 && resp.status < 400;
	if (!redirect && (resp.status < 200 || resp.status >= 300)) {
		rc = hub_error_from_response(hub, &resp, repo, what);
		goto out;
	}
	const char *commit = http_response_header(&resp, "X-Repo-Commit");
	const char *etag = http_response_header(&resp, "X-Linked-Etag");
	const char *size = http_response_header(&resp, "X-Linked-Size");
	const char *location = http_response_header(&resp, "Location");
	const char *ranges = http_response_header(&resp, "Accept-Ranges");
	if (!etag)
		etag = http_response_header(&resp, "ETag");
	if (!size && !redirect)
		size = http_response_header(&resp, "Content-Length");
	if (!commit || !hub_is_commit(commit)) {
		rc = modl_error_set(MODL_EINVALID,
				    "%s: the answer has no X-Repo-Commit (is %s a "
				    "Hugging Face Hub, or does a proxy strip its headers?)",
				    what, hub->endpoint);
		goto out;
	}
	if (!etag || normalize_etag(etag, meta->etag) || !size || parse_size(size, &meta->size)) {
		rc = modl_error_set(MODL_EINVALID, "%s: the answer has no usable ETag or size", what);
		goto out;
	}
	memcpy(meta->commit, commit, 41);
	meta->ranges = ranges && strstr(ranges, "bytes") != NULL;
	if (redirect && location)
		rc = http_resolve_url(resp.url, location, &meta->location);
	else if (redirect)
		rc = modl_error_set(MODL_EINVALID, "%s: a redirect without Location", what);
	else if (!(meta->location = strdup(resp.url)))
		rc = modl_error_oom();
out:
	http_response_free(&resp);
	strbuf_free(&url);
	if (rc)
		hub_file_meta_free(meta);
	return rc;
}

void hub_file_meta_free(struct hub_file_meta *meta)
{
	free(meta->location);
	meta->location = NULL;
}

/* ---- whoami ---------------------------------------------------------------------------- */

int hub_whoami(struct hub *hub, cJSON **out)
{
	struct strbuf url = STRBUF_INIT;
	struct http_response resp;
	struct hub_repo none = { .type = HUB_MODEL, .id = "whoami" };
	if (!hub->has_token)
		return modl_error_set(MODL_EAUTH, "not logged in: run 'modl login' or set HF_TOKEN");
	http_response_init(&resp);
	int rc = strbuf_addf(&url, "%s/api/whoami-v2", hub->endpoint);
	if (!rc)
		rc = api_get_json(hub, url.buf, &none, "whoami", &resp, out);
	if (rc == MODL_ENOTFOUND || (rc == MODL_EAUTH && resp.status == 401))
		rc = modl_error_set(MODL_EAUTH, "%s: the token (from %s) was refused as invalid",
				    hub->endpoint, hub->token_source ? hub->token_source : "?");
	http_response_free(&resp);
	strbuf_free(&url);
	return rc;
}

int hub_whoami_token(const struct modl_settings *s, const char *token, int verbose, cJSON **out)
{
	struct hub *hub;
	int rc = hub_open_token(&hub, s, token, "--token", verbose);
	if (rc)
		return rc;
	rc = hub_whoami(hub, out);
	hub_close(hub);
	return rc;
}
