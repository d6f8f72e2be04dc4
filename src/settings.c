#include "settings.h"
#include "error.h"
#include "fs.h"
#include "strbuf.h"

#include <ctype.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 4096

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int settings_env_true(const char *name)
{
	const char *v = env_nonempty(name);
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		     !strcasecmp(v, "on"));
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
		rc = home ? strbuf_addf(&sb, "%s/.cache/huggingface", home)
			  : modl_error_set(MODL_EFAIL, "out of memory");
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
		rc = modl_error_set(MODL_EFAIL, "out of memory");
out:
	strbuf_free(&sb);
	return rc;
}

static int settings_token(struct modl_settings *s)
{
	static const char *vars[] = { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (!v)
			continue;
		char *copy = strdup(v);
		if (!copy)
			return modl_error_set(MODL_EFAIL, "out of memory");
		if (settings_clean_token(copy)) {
			s->token = copy;
			s->token_source = vars[i];
			return 0;
		}
		free(copy);
	}
	char *content = NULL;
	int rc = fs_read_file(s->token_path, TOKEN_FILE_MAX, &content, NULL);
	if (rc == MODL_ENOTFOUND) {
		modl_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (settings_clean_token(content)) {
		s->token = content;
		s->token_source = "token file";
	} else {
		free(content);
	}
	return 0;
}

int settings_load(struct modl_settings *s)
{
	memset(s, 0, sizeof(*s));
	const char *endpoint = env_nonempty("HF_ENDPOINT");
	s->endpoint = strdup(endpoint ? endpoint : "https://huggingface.co");
	if (!s->endpoint)
		return modl_error_set(MODL_EFAIL, "out of memory");
	size_t len = strlen(s->endpoint);
	while (len && s->endpoint[len - 1] == '/')
		s->endpoint[--len] = '\0';
	if (strncmp(s->endpoint, "https://", 8) && strncmp(s->endpoint, "http://", 7))
		return modl_error_set(MODL_EUSAGE, "HF_ENDPOINT: '%s' is not an http(s) URL", s->endpoint);
	s->offline = settings_env_true("HF_HUB_OFFLINE") || settings_env_true("TRANSFORMERS_OFFLINE");
	s->no_color = getenv("NO_COLOR") != NULL;
	s->no_progress = settings_env_true("HF_HUB_DISABLE_PROGRESS_BARS") || s->no_color;
	int rc = settings_paths(s);
	if (!rc)
		rc = settings_token(s);
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
	memset(s, 0, sizeof(*s));
}
