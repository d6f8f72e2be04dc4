/* HTTP on libcurl: one client per process with a shared connection cache, retries with
 * backoff, redirects under a host-change policy, and the rule that the token is attached
 * only to requests whose origin is the endpoint's (so it can never reach a CDN). */
#ifndef MODL_HTTP_H
#define MODL_HTTP_H

#include <stddef.h>

#include "util/strbuf.h"

struct http_client;

struct http_client_options {
	const char *user_agent;
	const char *auth_origin; /* URL whose scheme://host:port may receive the token */
	const char *token;       /* NULL: anonymous */
	int verbose;             /* log requests and answers to stderr, token redacted */
	int max_retries;         /* retries after the first attempt (0: none; <0: 5) */
	unsigned retry_base_ms;  /* first backoff step (default 1000, MODL_RETRY_BASE_MS) */
	long connect_timeout_s;  /* default 10 */
	long stall_timeout_s;    /* the window of the minimum rate (default 10 s) */
	long low_speed_bps;      /* abort a transfer slower than this over the window (1024) */
	long max_retry_wait_s;   /* cap on a server's Retry-After / RateLimit t= (60) */
	long request_deadline_s; /* whole buffered request, retries included (300); a
				   * streamed download (sink) is bounded by the rate instead */
};

enum http_redirects {
	HTTP_REDIRECT_NONE,      /* return the 3xx answer itself */
	HTTP_REDIRECT_SAME_HOST, /* follow relative and same-origin redirects; stop at the
				   * first one that changes host and return it (hub HEAD) */
	HTTP_REDIRECT_ALL,       /* follow all (the token is dropped when the host changes) */
};

struct http_header {
	char *name;
	char *value;
};

struct http_response {
	long status;
	struct http_header *headers;
	size_t header_count;
	struct strbuf body;            /* buffered body (error bodies too when a sink is used) */
	char *url;                     /* URL of the final request (after redirects) */
	unsigned long long sink_bytes; /* bytes handed to the sink */
};

/* Receives the body of a 2xx answer; returning non-zero aborts the transfer with that
 * code (which http_perform then returns). resp holds the status and headers so far.
 * MODL_ENET means a wrong answer worth another try (a wrong Content-Range), retried
 * like a network failure; any other code ends the request. */
typedef int (*http_sink_fn)(void *ctx, const struct http_response *resp, const void *data, size_t len);

/* The sink starts over before another try: the body is sent again from its first byte. */
typedef int (*http_restart_fn)(void *ctx);

/* Returned by a judge: the URL has expired (the message is set, as MODL_ENET); the
 * request is tried again at the URL that the refresh hook gives. */
#define HTTP_JUDGE_EXPIRED 1

/* Judges an answer that arrived (whatever its status) once http_perform would return
 * it: 0 accepts it; MODL_ENET (message set) asks for another try after the backoff;
 * HTTP_JUDGE_EXPIRED for another try at a fresh URL; any other code ends the request
 * with it. On the last try, MODL_ENET and HTTP_JUDGE_EXPIRED end it as MODL_ENET. */
typedef int (*http_judge_fn)(void *ctx, const struct http_response *resp);

/* Replaces *url (owned: the hook frees the old one) by a fresh one; an error ends the
 * request with it. */
typedef int (*http_refresh_fn)(void *ctx, char **url);

struct http_request {
	const char *method; /* "GET" or "HEAD" */
	const char *url;
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	long long range_start;      /* -1: no Range header */
	long long range_end;        /* inclusive; -1: open-ended */
	enum http_redirects redirects;
	int identity;    /* Accept-Encoding: identity (sizes must be real) */
	size_t max_body; /* cap on the buffered body (default 32 MiB) */
	http_sink_fn sink;
	void *sink_ctx; /* also the context of the three hooks below */
	/* A streamed download's say in its retries, all optional: without restart, a
	 * failure after the sink received bytes is final; without judge, every answer is
	 * returned as it is; without refresh, an expired URL is tried again as it is. */
	http_restart_fn restart;
	http_judge_fn judge;
	http_refresh_fn refresh;
};

int http_global_init(void);
void http_global_cleanup(void);

int http_client_new(struct http_client **out, const struct http_client_options *options);
void http_client_free(struct http_client *client);

/* Performs the request with retries: network errors, 408, 429, 500, 502, 503, 504, and
 * what the request's judge or sink calls worth another try; at most max_retries + 1
 * tries of each URL (of a redirect chain) in all, with one backoff sequence; Retry-After
 * and RateLimit t= are honoured up to max_retry_wait_s. Returns 0 when an HTTP answer
 * was received (whatever its status, unless a judge says otherwise), MODL_ENET when none
 * could be (also past the deadline), MODL_EINVALID for a hostile answer that is never
 * retried (a redirect loop or one to a non-HTTP URL, a header too large, a buffered
 * body over max_body), or the sink's, judge's or refresh hook's error. Bytes past a Content-Length are never read: libcurl
 * ends the body there and closes the connection. */
int http_perform(struct http_client *client, const struct http_request *request,
		 struct http_response *response);

void http_response_init(struct http_response *response);
void http_response_free(struct http_response *response);
/* Last value of a header (case-insensitive name), or NULL. */
const char *http_response_header(const struct http_response *response, const char *name);

/* Resolves a (possibly relative) Location against base; *out owned by the caller. */
int http_resolve_url(const char *base, const char *location, char **out);
/* "scheme://host:port" in lower case with the default port filled in. */
int http_url_origin(const char *url, char **out);
/* True when both URLs have the same origin. */
int http_same_origin(const char *a, const char *b);

/* Seconds a 429/503 answer asks to wait: Retry-After (integer seconds) or the RateLimit
 * header's t= parameter (+1), as sent; -1 when neither is present. The
 * client caps what it honours (max_retry_wait_s). */
long http_retry_after_seconds(const struct http_response *response);

/* Next URL from a `Link: <url>; rel="next"` header, or NULL (hub pagination). */
int http_link_next(const struct http_response *response, char **out);

#endif
