#include "http.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/escape.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_MAX_BODY (32u << 20)
#define HTTP_MAX_REDIRECTS 10
#define HTTP_BACKOFF_CAP_STEPS 3               /* backoff doubles up to base * 2^3 */
#define HTTP_RETRY_AFTER_PARSE_MAX 1000000000L /* parsed as sent; the client caps the wait */
/* All header lines of one answer together: libcurl 7.x refuses one line over 100 KiB but
 * not many lines, which would pile up in the header array. */
#define HTTP_MAX_HEADER_BYTES (256u << 10)
/* Large receive buffers for streamed bodies: libcurl's 16 KiB default costs a read, a
 * write and a poll per 16 KiB, which showed as the bottleneck of multi-GB pulls. */
#define HTTP_SINK_BUFFER (512L << 10)
/* Enough pooled connections for every concurrent transfer (jobs x connections): the
 * default of 5 made nearly every 8 MiB chunk open a new (TLS) connection. */
#define HTTP_MAX_CONNECTS 128L

struct http_client {
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	char *user_agent;
	char *auth_origin;
	char *token;
	int verbose;
	int max_retries;
	unsigned retry_base_ms;
	long connect_timeout_s;
	long stall_timeout_s;
	long low_speed_bps;
	long max_retry_wait_s;
	long request_deadline_s;
	int wait_capped_said;     /* the capped-wait notice is printed once (under log_lock) */
	pthread_mutex_t log_lock; /* one request's log lines stay together */
};

/* ---- public entry points ------------------------------------------------------------ */

int http_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return modl_error_set(MODL_EFAIL, "cannot initialise libcurl");
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ctx)
{
	(void)handle;
	(void)access;
	struct http_client *c = ctx;
	pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ctx)
{
	(void)handle;
	struct http_client *c = ctx;
	pthread_mutex_unlock(&c->locks[data]);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int http_client_new(struct http_client **out, const struct http_client_options *o)
{
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return modl_error_oom();
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	pthread_mutex_init(&c->log_lock, NULL);
	c->user_agent = dup_or_null(o->user_agent ? o->user_agent : "modl");
	c->auth_origin = NULL;
	if (o->auth_origin && http_url_origin(o->auth_origin, &c->auth_origin)) {
		http_client_free(c);
		return modl_error_code();
	}
	c->token = dup_or_null(o->token);
	c->verbose = o->verbose;
	c->max_retries = o->max_retries >= 0 ? o->max_retries : 5;
	c->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 1000;
	c->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 10;
	c->stall_timeout_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : 10;
	c->low_speed_bps = o->low_speed_bps > 0 ? o->low_speed_bps : 1024;
	c->max_retry_wait_s = o->max_retry_wait_s > 0 ? o->max_retry_wait_s : 60;
	c->request_deadline_s = o->request_deadline_s > 0 ? o->request_deadline_s : 300;
	c->share = curl_share_init();
	if (!c->share || !c->user_agent || (o->token && !c->token)) {
		http_client_free(c);
		return modl_error_oom();
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->locks[i]);
	pthread_mutex_destroy(&c->log_lock);
	free(c->user_agent);
	free(c->auth_origin);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c);
}

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	strbuf_init(&r->body);
}

static void response_clear_headers(struct http_response *r)
{
	for (size_t i = 0; i < r->header_count; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->header_count = 0;
}

static void response_reset(struct http_response *r)
{
	response_clear_headers(r);
	strbuf_reset(&r->body);
	r->status = 0;
	r->sink_bytes = 0;
}

void http_response_free(struct http_response *r)
{
	response_clear_headers(r);
	strbuf_free(&r->body);
	free(r->url);
	memset(r, 0, sizeof(*r));
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	for (size_t i = r->header_count; i-- > 0;)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* ---- URLs ---------------------------------------------------------------------------- */

int http_resolve_url(const char *base, const char *location, char **out)
{
	CURLU *u = curl_url();
	char *full = NULL;
	int rc = 0;
	if (!u)
		return modl_error_oom();
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		rc = modl_error_set(MODL_EINVALID, "server sent an invalid redirect location '%s'", location);
		goto out;
	}
	*out = strdup(full);
	if (!*out)
		rc = modl_error_oom();
out:
	curl_free(full);
	curl_url_cleanup(u);
	return rc;
}

int http_url_origin(const char *url, char **out)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = 0;
	if (!u)
		return modl_error_oom();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = modl_error_set(MODL_EINVALID, "invalid URL '%s'", url);
		goto out;
	}
	size_t len = strlen(scheme) + strlen(host) + strlen(port) + 5;
	*out = malloc(len);
	if (!*out) {
		rc = modl_error_oom();
		goto out;
	}
	snprintf(*out, len, "%s://%s:%s", scheme, host, port);
	for (char *p = *out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

int http_same_origin(const char *a, const char *b)
{
	char *oa = NULL, *ob = NULL;
	int same = 0;
	if (!http_url_origin(a, &oa) && !http_url_origin(b, &ob))
		same = !strcmp(oa, ob);
	free(oa);
	free(ob);
	return same;
}

/* ---- response header parsing --------------------------------------------------------- */

long http_retry_after_seconds(const struct http_response *r)
{
	const char *v = http_response_header(r, "Retry-After");
	if (v) {
		char *end;
		long s = strtol(v, &end, 10);
		while (*end == ' ')
			end++;
		if (end != v && *end == '\0' && s >= 0)
			return s > HTTP_RETRY_AFTER_PARSE_MAX ? HTTP_RETRY_AFTER_PARSE_MAX : s;
	}
	/* RateLimit: "api";r=0;t=55 (draft ratelimit-headers-09, doc/hub-protocol.md §1.8) */
	v = http_response_header(r, "RateLimit");
	if (v) {
		const char *t = strstr(v, ";t=");
		if (t) {
			long s = strtol(t + 3, NULL, 10);
			if (s >= 0)
				return (s > HTTP_RETRY_AFTER_PARSE_MAX ? HTTP_RETRY_AFTER_PARSE_MAX : s) + 1;
		}
	}
	return -1;
}

int http_link_next(const struct http_response *r, char **out)
{
	*out = NULL;
	for (size_t i = 0; i < r->header_count; i++) {
		if (strcasecmp(r->headers[i].name, "Link"))
			continue;
		/* A Link header holds comma-separated <url>; params entries. */
		const char *p = r->headers[i].value;
		while ((p = strchr(p, '<'))) {
			const char *end = strchr(p, '>');
			if (!end)
				break;
			const char *next_entry = strchr(end, '<');
			const char *rel = strstr(end, "rel=\"next\"");
			const char *rel2 = strstr(end, "rel=next");
			if ((rel && (!next_entry || rel < next_entry)) ||
			    (rel2 && (!next_entry || rel2 < next_entry))) {
				*out = strndup(p + 1, (size_t)(end - p - 1));
				return *out ? 0 : modl_error_oom();
			}
			p = end;
		}
	}
	return 0;
}

/* ---- one transfer ---------------------------------------------------------------------- */

struct transfer {
	const struct http_request *req;
	struct http_response *resp;
	CURL *easy;
	size_t max_body;
	size_t header_bytes;
	int sink_error;
	int body_too_large;
	int header_too_large;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct transfer *t = ctx;
	size_t len = size * nmemb;
	struct http_response *r = t->resp;
	t->header_bytes += len;
	if (t->header_bytes > HTTP_MAX_HEADER_BYTES) {
		t->header_too_large = 1;
		return 0;
	}
	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new status line (100 Continue, proxy CONNECT): start the header set again. */
		response_clear_headers(r);
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	struct http_header *h = realloc(r->headers, (r->header_count + 1) * sizeof(*h));
	if (!h)
		return 0;
	r->headers = h;
	h[r->header_count].name = strndup(data, (size_t)(colon - data));
	h[r->header_count].value = strndup(v, (size_t)(end - v));
	if (!h[r->header_count].name || !h[r->header_count].value) {
		free(h[r->header_count].name);
		free(h[r->header_count].value);
		return 0;
	}
	r->header_count++;
	return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct transfer *t = ctx;
	size_t len = size * nmemb;
	struct http_response *r = t->resp;
	if (!r->status)
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (t->req->sink && r->status >= 200 && r->status < 300) {
		int rc = t->req->sink(t->req->sink_ctx, r, data, len);
		if (rc) {
			t->sink_error = rc;
			return 0;
		}
		r->sink_bytes += len;
		return len;
	}
	if (r->body.len + len > t->max_body) {
		t->body_too_large = 1;
		return 0;
	}
	return strbuf_add(&r->body, data, len) ? 0 : len;
}

static int url_gets_token(const struct http_client *c, const char *url)
{
	if (!c->token || !c->auth_origin)
		return 0;
	char *origin = NULL;
	int ok = !http_url_origin(url, &origin) && !strcmp(origin, c->auth_origin);
	free(origin);
	modl_error_clear();
	return ok;
}

static void log_request(struct http_client *c, const char *method, const char *url,
			struct curl_slist *headers)
{
	pthread_mutex_lock(&c->log_lock);
	fprintf(stderr, "> %s %s\n", method, url);
	for (struct curl_slist *h = headers; h; h = h->next) {
		if (!strncasecmp(h->data, "Authorization:", 14))
			fprintf(stderr, "> Authorization: Bearer hf_***\n");
		else
			fprintf(stderr, "> %s\n", h->data);
	}
	pthread_mutex_unlock(&c->log_lock);
}

static void log_response(struct http_client *c, const struct http_response *r)
{
	pthread_mutex_lock(&c->log_lock);
	fprintf(stderr, "< %ld\n", r->status);
	for (size_t i = 0; i < r->header_count; i++) {
		fputs("< ", stderr); /* the server's text */
		escape_fputs(r->headers[i].name, 0, stderr);
		fputs(": ", stderr);
		escape_fputs(r->headers[i].value, 0, stderr);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&c->log_lock);
}

static struct curl_slist *build_headers(struct http_client *c, const struct http_request *req,
					const char *url, int *failed)
{
	struct curl_slist *list = NULL, *tmp;
	char line[160];
	*failed = 0;
#define APPEND(s)                                   \
	do {                                        \
		tmp = curl_slist_append(list, (s)); \
		if (!tmp)                           \
			goto fail;                  \
		list = tmp;                         \
	} while (0)
	if (req->headers)
		for (const char *const *h = req->headers; *h; h++)
			APPEND(*h);
	if (req->range_start >= 0) {
		if (req->range_end >= 0)
			snprintf(line, sizeof(line), "Range: bytes=%lld-%lld", req->range_start,
				 req->range_end);
		else
			snprintf(line, sizeof(line), "Range: bytes=%lld-", req->range_start);
		APPEND(line);
	}
	if (url_gets_token(c, url)) {
		size_t n = strlen(c->token) + 32;
		char *auth = malloc(n);
		if (!auth)
			goto fail;
		snprintf(auth, n, "Authorization: Bearer %s", c->token);
		tmp = curl_slist_append(list, auth);
		memset(auth, 0, n);
		free(auth);
		if (!tmp)
			goto fail;
		list = tmp;
	}
	return list;
#undef APPEND
fail:
	curl_slist_free_all(list);
	*failed = 1;
	return NULL;
}

/* libcurl's verdict on a transfer as a MODL_E* code: hostile answers are MODL_EINVALID
 * and never retried; transport failures are MODL_ENET, retryable unless they cannot get
 * better (certificates, protocols) or the request is out of time. */
static int transfer_error(const struct http_client *c, const struct transfer *t, const char *url, CURLcode cc,
			  double deadline, int *retryable)
{
	const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc);
	/* libcurl 7.x reports a header line over its 100 KiB limit as CURLE_OUT_OF_MEMORY; its
	 * own buffers are small, so that is what the code means from a remote server. */
	int header_refused = t->header_too_large || cc == CURLE_OUT_OF_MEMORY;
#if LIBCURL_VERSION_NUM >= 0x080600
	header_refused = header_refused || cc == CURLE_TOO_LARGE;
#endif
	*retryable = 0;
	if (header_refused)
		return modl_error_set(MODL_EINVALID,
				      "%s: response header too large (limits: %u KiB "
				      "in all, 100 KiB a line)",
				      url, HTTP_MAX_HEADER_BYTES >> 10);
	if (cc == CURLE_UNSUPPORTED_PROTOCOL)
		return modl_error_set(MODL_EINVALID, "%s: %s", url, why);
	if (cc == CURLE_OPERATION_TIMEDOUT && deadline > 0 && clock_seconds() >= deadline - 0.05)
		return modl_error_set(MODL_ENET,
				      "%s: no complete answer within %ld s "
				      "(MODL_REQUEST_DEADLINE)",
				      url, c->request_deadline_s);
	*retryable = 1; /* a slow transfer may go better on a new connection */
	if (cc == CURLE_OPERATION_TIMEDOUT && strstr(why, "too slow"))
		return modl_error_set(MODL_ENET,
				      "%s: transfer slower than %ld bytes/s for %ld s "
				      "(MODL_LOW_SPEED_BPS, HF_HUB_DOWNLOAD_TIMEOUT)",
				      url, c->low_speed_bps, c->stall_timeout_s);
	*retryable = cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_PEER_FAILED_VERIFICATION &&
		     cc != CURLE_URL_MALFORMAT && cc != CURLE_OUT_OF_MEMORY;
	return modl_error_set(MODL_ENET, "%s: %s", url, why);
}

/* One request to one URL, no redirect following and no retry, ended by deadline
 * (clock_seconds(); 0: none). Returns 0 when an HTTP answer arrived, MODL_ENET for a
 * transport failure (with *retryable set), MODL_EINVALID for a hostile answer, or the
 * sink's error (retryable when MODL_ENET). */
static int transfer_once(struct http_client *c, const struct http_request *req, const char *url,
			 double deadline, struct http_response *resp, int *retryable)
{
	struct transfer t = { .req = req, .resp = resp };
	int failed, rc = 0;
	*retryable = 0;
	t.max_body = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;
	t.easy = curl_easy_init();
	if (!t.easy)
		return modl_error_set(MODL_EFAIL, "cannot create a curl handle");
	struct curl_slist *headers = build_headers(c, req, url, &failed);
	if (failed) {
		curl_easy_cleanup(t.easy);
		return modl_error_oom();
	}
	int head = !strcmp(req->method, "HEAD");
	curl_easy_setopt(t.easy, CURLOPT_URL, url);
	curl_easy_setopt(t.easy, CURLOPT_SHARE, c->share);
	curl_easy_setopt(t.easy, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(t.easy, CURLOPT_NOBODY, head ? 1L : 0L);
	curl_easy_setopt(t.easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t.easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(t.easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t.easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(t.easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	curl_easy_setopt(t.easy, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_bps);
	curl_easy_setopt(t.easy, CURLOPT_LOW_SPEED_TIME, c->stall_timeout_s);
	curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.errbuf);
	if (deadline > 0) {
		double left = deadline - clock_seconds();
		curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, left > 0.001 ? (long)(left * 1000) : 1L);
	}
	curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t.easy, CURLOPT_ACCEPT_ENCODING, req->identity ? "identity" : "");
	curl_easy_setopt(t.easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t.easy, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(t.easy, CURLOPT_MAXCONNECTS, HTTP_MAX_CONNECTS);
	if (req->sink)
		curl_easy_setopt(t.easy, CURLOPT_BUFFERSIZE, HTTP_SINK_BUFFER);
	if (c->verbose)
		log_request(c, req->method, url, headers);

	CURLcode cc = curl_easy_perform(t.easy);
	curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &resp->status);
	if (t.sink_error) {
		rc = t.sink_error;
		*retryable = rc == MODL_ENET; /* the sink calls the answer wrong, not hostile */
	} else if (t.body_too_large) {
		rc = modl_error_set(MODL_EINVALID, "%s: answer larger than %zu bytes", url, t.max_body);
	} else if (cc != CURLE_OK || t.header_too_large) {
		rc = transfer_error(c, &t, url, cc, deadline, retryable);
	} else if (c->verbose) {
		log_response(c, resp);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(t.easy);
	return rc;
}

static int status_is_retryable(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
	       status == 504;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Exponential backoff with jitter: base, 2*base, 4*base, 8*base, 8*base... plus up to
 * half a step at random so that parallel workers do not retry in lockstep. */
static unsigned long backoff_ms(const struct http_client *c, int attempt, unsigned *seed)
{
	int step = attempt < HTTP_BACKOFF_CAP_STEPS ? attempt : HTTP_BACKOFF_CAP_STEPS;
	unsigned long ms = (unsigned long)c->retry_base_ms << step;
	return ms + (unsigned long)(rand_r(seed) % (c->retry_base_ms / 2 + 1));
}

/* The wait a server asked for, capped at max_retry_wait_s; the first time the cap cuts
 * it, stderr says so (a silent 25-minute wait looks like a hang). */
static unsigned long server_wait_ms(struct http_client *c, long after)
{
	if (after <= c->max_retry_wait_s)
		return (unsigned long)after * 1000UL;
	pthread_mutex_lock(&c->log_lock);
	if (!c->wait_capped_said) {
		c->wait_capped_said = 1;
		fprintf(stderr, "modl: server asked to wait %ld s; waiting %ld s (MODL_MAX_RETRY_WAIT)\n",
			after, c->max_retry_wait_s);
	}
	pthread_mutex_unlock(&c->log_lock);
	return (unsigned long)c->max_retry_wait_s * 1000UL;
}

/* Sleeps before a retry, or says why not: a wait that would end past the deadline is
 * not started. status: the answer being retried (0: a transport failure). */
static int retry_sleep(struct http_client *c, const char *url, unsigned long wait, double deadline,
		       long status)
{
	if (deadline > 0 && clock_seconds() + (double)wait / 1000.0 >= deadline) {
		if (status)
			return modl_error_set(MODL_ENET,
					      "%s: no complete answer within %ld s "
					      "(MODL_REQUEST_DEADLINE); the last was HTTP %ld",
					      url, c->request_deadline_s, status);
		struct modl_error_saved last; /* the transport error names the URL already */
		modl_error_save(&last);
		return modl_error_set(MODL_ENET,
				      "%s; no complete answer within %ld s "
				      "(MODL_REQUEST_DEADLINE)",
				      last.message, c->request_deadline_s);
	}
	sleep_ms(wait);
	return 0;
}

static int redirect_status(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The request's judge on an answer http_perform is about to return (a redirect it is
 * going to follow is not judged). */
static int judge_answer(const struct http_request *req, const struct http_response *resp)
{
	if (!req->judge || (req->redirects != HTTP_REDIRECT_NONE && redirect_status(resp->status) &&
			    http_response_header(resp, "Location")))
		return 0;
	return req->judge(req->sink_ctx, resp);
}

/* One try at url. Returns 0 with *retry unset for an answer to return; otherwise the
 * error that ends the request, or with *retry set the reason for another one: a status
 * worth retrying (0), MODL_ENET, or HTTP_JUDGE_EXPIRED (another try at a fresh URL).
 * The last try is never retried. */
static int try_once(struct http_client *c, const struct http_request *req, const char *url, double deadline,
		    int last, struct http_response *resp, int *retry)
{
	int retryable;
	*retry = 0;
	response_reset(resp);
	int rc = transfer_once(c, req, url, deadline, resp, &retryable);
	if (rc) {
		*retry = !last && rc == MODL_ENET && retryable && (resp->sink_bytes == 0 || req->restart);
		return rc;
	}
	if (!last && status_is_retryable(resp->status)) {
		*retry = 1;
		return 0;
	}
	rc = judge_answer(req, resp);
	*retry = !last && (rc == MODL_ENET || rc == HTTP_JUDGE_EXPIRED);
	return rc == HTTP_JUDGE_EXPIRED && last ? MODL_ENET : rc;
}

/* Sleeps before retry `attempt` (0, 1, 2...). answer: the answer being retried (NULL:
 * a failure, whose message is set). */
static int wait_before_retry(struct http_client *c, const char *url, int attempt,
			     const struct http_response *answer, double deadline, unsigned *seed)
{
	long after = answer ? http_retry_after_seconds(answer) : -1;
	unsigned long wait = after >= 0 ? server_wait_ms(c, after) : backoff_ms(c, attempt, seed);
	if (c->verbose && answer) {
		fprintf(stderr, "modl: %s answered %ld; retrying in %lu ms\n", url, answer->status, wait);
	} else if (c->verbose) {
		fputs("modl: ", stderr);
		escape_fputs(modl_error_message(), 0, stderr);
		fprintf(stderr, "; retrying in %lu ms\n", wait);
	}
	return retry_sleep(c, url, wait, deadline, answer ? answer->status : 0);
}

/* Tries *url until an answer to return, an error that ends the request, or the last of
 * max_retries + 1 tries: the one place that decides on retries, with one backoff
 * sequence for every kind. A URL the judge calls expired is replaced by the refresh
 * hook and tried again at once. */
static int perform_with_retries(struct http_client *c, const struct http_request *req, char **url,
				double deadline, struct http_response *resp)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(size_t)resp;
	for (int attempt = 0;; attempt++) {
		int retry, rc = try_once(c, req, *url, deadline, attempt >= c->max_retries, resp, &retry);
		if (!retry)
			return rc;
		if (rc == HTTP_JUDGE_EXPIRED && req->refresh)
			rc = req->refresh(req->sink_ctx, url);
		else
			rc = wait_before_retry(c, *url, attempt, rc ? NULL : resp, deadline, &seed);
		if (!rc && req->restart)
			rc = req->restart(req->sink_ctx);
		if (rc)
			return rc;
	}
}

/* Redirects go to http or https only: libcurl would refuse file:// and the like too,
 * but as a transport error; it is the server's answer that is wrong. */
static int redirect_scheme_ok(const char *url)
{
	return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp)
{
	char *url = strdup(req->url);
	int rc = 0;
	if (!url)
		return modl_error_oom();
	/* A buffered answer (API JSON) has a deadline; a streamed download is bounded by the
	 * minimum rate instead, since a large file may rightly take hours. */
	double deadline = req->sink ? 0 : clock_seconds() + (double)c->request_deadline_s;
	for (int hops = 0;; hops++) {
		rc = perform_with_retries(c, req, &url, deadline, resp);
		if (rc)
			break;
		const char *location = http_response_header(resp, "Location");
		if (!redirect_status(resp->status) || !location || req->redirects == HTTP_REDIRECT_NONE)
			break;
		char *next = NULL;
		if ((rc = http_resolve_url(url, location, &next)))
			break;
		if (!redirect_scheme_ok(next)) {
			/* Only the scheme is shown: the rest is the server's text. */
			size_t n = 0;
			while (n < 16 && (isalnum((unsigned char)next[n]) || next[n] == '+' ||
					  next[n] == '-' || next[n] == '.'))
				n++;
			rc = modl_error_set(MODL_EINVALID, "%s: redirect to a non-HTTP URL (%.*s:) refused",
					    url, (int)n, next);
			free(next);
			break;
		}
		if (req->redirects == HTTP_REDIRECT_SAME_HOST && !http_same_origin(url, next)) {
			free(next);
			break;
		}
		if (hops >= HTTP_MAX_REDIRECTS) {
			free(next);
			rc = modl_error_set(MODL_EINVALID, "%s: too many redirects (more than %d)", req->url,
					    HTTP_MAX_REDIRECTS);
			break;
		}
		free(url);
		url = next;
	}
	free(resp->url);
	resp->url = url;
	return rc;
}
