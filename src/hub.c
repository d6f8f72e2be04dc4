#include "hub.h"
#include "error.h"
#include "strbuf.h"
#include "version.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_REPO_NAME_MAX 96
#define HUB_TREE_MAX_PAGES 100000 /* a hostile Link loop ends here */

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
	return n == 40;
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
		return modl_error_set(MODL_EUSAGE,
				      "'%s' is not a valid repo id (expected namespace/name)", arg);
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
		return modl_error_set(MODL_EFAIL, "out of memory");
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
		return modl_error_set(MODL_EAUTH, "%s: access to this repository is disabled",
				      repo->id);
	if (code && !strcmp(code, "RevisionNotFound"))
		return modl_error_set(MODL_ENOTFOUND, "revision '%s' not found in %s",
				      repo->revision[0] ? repo->revision : "main", repo->id);
	if (code && !strcmp(code, "EntryNotFound"))
		return modl_error_set(MODL_ENOTFOUND, "%s not found", what);
	if ((code && !strcmp(code, "RepoNotFound")) || status == 404 ||
	    (status == 401 && !hub->has_token))
		return modl_error_set(MODL_ENOTFOUND,
				      "%s %s not found%s", hub_repo_type_name(repo->type), repo->id,
				      hub->has_token ? " (or the token cannot read it)"
						     : " (if it is private, log in with 'modl login' "
						       "or set HF_TOKEN)");
	if (status == 401 || status == 403)
		return modl_error_set(MODL_EAUTH, "%s: access denied (HTTP %ld, %s)%s%s", what,
				      status, token_note, msg[0] ? ": " : "", msg);
	if (status == 429) {
		long after = http_retry_after_seconds(resp);
		return modl_error_set(MODL_ENET, "%s: rate limited by the Hub after retries%s", what,
				      after >= 0 ? "; try again later" : "");
	}
	if (status >= 500)
		return modl_error_set(MODL_ENET, "%s: server error HTTP %ld after retries%s%s", what,
				      status, msg[0] ? ": " : "", msg);
	return modl_error_set(MODL_EFAIL, "%s: unexpected HTTP %ld%s%s", what, status,
			      msg[0] ? ": " : "", msg);
}

/* ---- requests -------------------------------------------------------------------------- */

static int api_get_json(struct hub *hub, const char *url, const struct hub_repo *repo,
			const char *what, struct http_response *resp, cJSON **out)
{
	const char *headers[] = { "Accept: application/json", NULL };
	struct http_request req = {
		.method = "GET", .url = url, .headers = headers, .range_start = -1, .range_end = -1,
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
	*out = cJSON_ParseWithLength(text, len);
	if (!*out)
		return modl_error_set(MODL_EINVALID, "%s: the Hub answered with invalid JSON", source);
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

int hub_path_is_safe(const char *path)
{
	if (!path[0] || path[0] == '/')
		return 0;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	/* No empty, "." or ".." component. */
	for (const char *seg = path;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (!end)
			return 1;
		seg = end + 1;
	}
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
	if (!hub_path_is_safe(path->valuestring))
		return modl_error_set(MODL_EINVALID,
				      "%s: the Hub listed an unsafe path (absolute, '..', backslash or "
				      "control character); refusing it", url);
	e->is_dir = !strcmp(type->valuestring, "directory");
	if (!e->is_dir && strcmp(type->valuestring, "file"))
		return modl_error_set(MODL_EINVALID, "%s: unknown tree entry type", url);
	if (cJSON_IsString(oid)) {
		if (!is_lower_hex(oid->valuestring, 40))
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
		if (!cJSON_IsString(sha) || !is_lower_hex(sha->valuestring, 64))
			return modl_error_set(MODL_EINVALID, "%s: %s: lfs.oid is not a sha256", url,
					      path->valuestring);
		e->lfs = 1;
		memcpy(e->sha256, sha->valuestring, 65);
		if (cJSON_IsNumber(lsize) && lsize->valuedouble >= 0 && lsize->valuedouble <= 9.0e15)
			e->size = (unsigned long long)lsize->valuedouble;
	}
	e->path = strdup(path->valuestring);
	return e->path ? 0 : modl_error_set(MODL_EFAIL, "out of memory");
}

int hub_tree_add_page(struct hub_tree *tree, const cJSON *page, const char *url)
{
	if (!cJSON_IsArray(page))
		return modl_error_set(MODL_EINVALID, "%s: tree listing is not a JSON array", url);
	size_t n = (size_t)cJSON_GetArraySize(page);
	struct hub_entry *grown = realloc(tree->entries, (tree->count + n + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_set(MODL_EFAIL, "out of memory");
	tree->entries = grown;
	const cJSON *item;
	cJSON_ArrayForEach(item, page) {
		int rc = tree_entry_parse(item, url, &tree->entries[tree->count]);
		if (rc) {
			free(tree->entries[tree->count].path);
			return rc;
		}
		tree->count++;
	}
	return 0;
}

int hub_list_tree(struct hub *hub, const struct hub_repo *repo, const char *revision,
		  const char *path, int recursive, struct hub_tree *out)
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
	int rc = strbuf_addf(out, "%s/%s%s/resolve/", hub->endpoint, type_url_prefix[repo->type],
			     repo->id);
	if (!rc)
		rc = strbuf_add_urlencoded(out, revision, 0);
	if (!rc)
		rc = strbuf_adds(out, "/");
	if (!rc)
		rc = strbuf_add_urlencoded(out, path, 1);
	return rc;
}

/* W/"abc" or "abc" → abc */
static int normalize_etag(const char *raw, char out[65])
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

int hub_file_metadata(struct hub *hub, const struct hub_repo *repo, const char *revision,
		      const char *path, struct hub_file_meta *meta)
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
		.method = "HEAD", .url = url.buf, .range_start = -1, .range_end = -1,
		.redirects = HTTP_REDIRECT_SAME_HOST, .identity = 1,
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
		rc = modl_error_set(MODL_EINVALID, "%s: the answer has no X-Repo-Commit (is %s a "
				    "Hugging Face Hub, or does a proxy strip its headers?)", what,
				    hub->endpoint);
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
		rc = modl_error_set(MODL_EFAIL, "out of memory");
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
		return modl_error_set(MODL_EAUTH,
				      "not logged in: run 'modl login' or set HF_TOKEN");
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
