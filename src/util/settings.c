#include "settings.h"
#include "error.h"
#include "fs.h"
#include "strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"

/* What the token file held, read once (settings_token). */
struct settings_token_file {
	int read;
	int warned;
	char *token;   /* NULL: none, or the file could not be used */
	char *problem; /* why it could not be used, or NULL */
};

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int settings_env_true(const char *name)
{
	const char *v = env_nonempty(name);
	return v &&
	       (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

int settings_clean_token(char *token)
{
	char *w = token;
	for (char *r = token; *r; r++)
		if (*r != '\r' && *r != '\n')
			*w++ = *r;
	*w = '\0';
	char *start = token;
	while (isspace((unsigned char)*start))
		start++;
	size_t len = strlen(start);
	while (len && isspace((unsigned char)start[len - 1]))
		len--;
	memmove(token, start, len);
	token[len] = '\0';
	return len > 0;
}

static char *home_dir(void)
{
	const char *home = env_nonempty("HOME");
	if (!home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	return strdup(home);
}

static int settings_paths(struct modl_settings *s)
{
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	const char *v;
	if ((v = env_nonempty("HF_HOME"))) {
		rc = strbuf_adds(&sb, v);
	} else if ((v = env_nonempty("XDG_CACHE_HOME"))) {
		rc = strbuf_addf(&sb, "%s/huggingface", v);
	} else {
		char *home = home_dir();
		rc = home ? strbuf_addf(&sb, "%s/.cache/huggingface", home) : modl_error_oom();
		free(home);
	}
	if (rc)
		goto out;
	s->hf_home = strbuf_take(&sb);
	if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
		rc = strbuf_adds(&sb, v);
	else
		rc = strbuf_addf(&sb, "%s/hub", s->hf_home);
	if (rc)
		goto out;
	s->hub_cache = strbuf_take(&sb);
	if ((v = env_nonempty("HF_TOKEN_PATH")))
		rc = strbuf_adds(&sb, v);
	else
		rc = strbuf_addf(&sb, "%s/token", s->hf_home);
	if (rc)
		goto out;
	s->token_path = strbuf_take(&sb);
	if (!s->hf_home || !s->hub_cache || !s->token_path)
		rc = modl_error_oom();
out:
	strbuf_free(&sb);
	return rc;
}

/* The token from the environment; the file is left for settings_token. */
static int settings_token_env(struct modl_settings *s)
{
	static const char *vars[] = { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (!v)
			continue;
		char *copy = strdup(v);
		if (!copy)
			return modl_error_oom();
		if (settings_clean_token(copy)) {
			s->token = copy;
			s->token_source = vars[i];
			return 0;
		}
		free(copy);
	}
	return 0;
}

/* Up to SETTINGS_TOKEN_FILE_MAX bytes of path into buf. Opened without blocking (a FIFO
 * in its place must not hang a command) and checked to be a regular file. Returns 0,
 * ENOENT when there is no file, or another errno value; EFBIG when too large, EINVAL
 * when not a regular file. */
static int read_token_file(const char *path, char *buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), err = 0;
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if (st.st_size > SETTINGS_TOKEN_FILE_MAX)
		err = EFBIG;
	*len = 0;
	while (!err && *len <= SETTINGS_TOKEN_FILE_MAX) {
		ssize_t n = read(fd, buf + *len, SETTINGS_TOKEN_FILE_MAX + 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = errno;
		else if (n == 0)
			break;
		else
			*len += (size_t)n;
	}
	if (!err && *len > SETTINGS_TOKEN_FILE_MAX)
		err = EFBIG; /* it grew while read */
	close(fd);
	return err;
}

static void token_file_load(const struct modl_settings *s, struct settings_token_file *f)
{
	char buf[SETTINGS_TOKEN_FILE_MAX + 2];
	size_t len = 0;
	int err = read_token_file(s->token_path, buf, &len);
	f->read = 1;
	if (err == ENOENT)
		return; /* not logged in */
	if (err) {
		struct strbuf why = STRBUF_INIT;
		if (err == EFBIG)
			strbuf_addf(&why, "larger than %d bytes", SETTINGS_TOKEN_FILE_MAX);
		else if (err == EINVAL)
			strbuf_adds(&why, "not a regular file");
		else
			strbuf_adds(&why, strerror(err));
		f->problem = strbuf_take(&why);
		return;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		f->problem = strdup("holds a NUL byte: not a token");
	} else if (settings_clean_token(buf)) {
		f->token = strdup(buf);
	}
	memset(buf, 0, sizeof(buf));
}

const char *settings_token_status(const struct modl_settings *s, const char **source, const char **problem)
{
	struct settings_token_file *f = s->token_file;
	if (source)
		*source = s->token_source;
	if (problem)
		*problem = NULL;
	if (s->token || !f)
		return s->token;
	if (!f->read)
		token_file_load(s, f);
	if (problem)
		*problem = f->problem;
	if (source)
		*source = f->token ? "token file" : NULL;
	return f->token;
}

const char *settings_token(const struct modl_settings *s, const char **source)
{
	const char *problem;
	const char *token = settings_token_status(s, source, &problem);
	if (problem && !s->token_file->warned) {
		s->token_file->warned = 1;
		fputs("modl: warning: token file ", stderr);
		escape_fputs(s->token_path, 0, stderr);
		fputs(": ", stderr);
		escape_fputs(problem, 0, stderr);
		fputs("; continuing without a token\n", stderr);
	}
	return token;
}

int settings_load(struct modl_settings *s)
{
	memset(s, 0, sizeof(*s));
	const char *endpoint = env_nonempty("HF_ENDPOINT");
	s->endpoint = strdup(endpoint ? endpoint : "https://huggingface.co");
	if (!s->endpoint)
		return modl_error_oom();
	size_t len = strlen(s->endpoint);
	while (len && s->endpoint[len - 1] == '/')
		s->endpoint[--len] = '\0';
	if (strncmp(s->endpoint, "https://", 8) && strncmp(s->endpoint, "http://", 7))
		return modl_error_set(MODL_EUSAGE, "HF_ENDPOINT: '%s' is not an http(s) URL", s->endpoint);
	s->offline = settings_env_true("HF_HUB_OFFLINE") || settings_env_true("TRANSFORMERS_OFFLINE");
	s->no_color = getenv("NO_COLOR") != NULL;
	s->no_progress = settings_env_true("HF_HUB_DISABLE_PROGRESS_BARS") || s->no_color;
	if (!(s->token_file = calloc(1, sizeof(*s->token_file))))
		return modl_error_oom();
	int rc = settings_paths(s);
	if (!rc)
		rc = settings_token_env(s);
	return rc;
}

void settings_free(struct modl_settings *s)
{
	free(s->endpoint);
	free(s->hf_home);
	free(s->hub_cache);
	free(s->token_path);
	if (s->token) {
		/* Do not leave the secret in freed heap memory. */
		memset(s->token, 0, strlen(s->token));
		free(s->token);
	}
	if (s->token_file) {
		if (s->token_file->token) {
			memset(s->token_file->token, 0, strlen(s->token_file->token));
			free(s->token_file->token);
		}
		free(s->token_file->problem);
		free(s->token_file);
	}
	memset(s, 0, sizeof(*s));
}
