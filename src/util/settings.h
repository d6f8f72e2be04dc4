/* Settings read from the environment with the meaning the Hugging Face tools give them
 * (doc/hub-protocol.md §2.1, §2.3): endpoint, cache locations, token, offline mode. */
#ifndef MODL_SETTINGS_H
#define MODL_SETTINGS_H

struct settings_token_file;

struct modl_settings {
	char *endpoint;           /* HF_ENDPOINT without trailing '/' */
	char *hf_home;            /* HF_HOME → XDG_CACHE_HOME/huggingface → ~/.cache/huggingface */
	char *hub_cache;          /* HF_HUB_CACHE → HUGGINGFACE_HUB_CACHE → HF_HOME/hub */
	char *token_path;         /* HF_TOKEN_PATH → HF_HOME/token */
	char *token;              /* from HF_TOKEN or HUGGING_FACE_HUB_TOKEN, else NULL (the token
			      * file is read by settings_token, on first use); never printed */
	const char *token_source; /* "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", or NULL */
	struct settings_token_file *token_file; /* what settings_token found, NULL before */
	int offline;     /* HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set to a true value */
	int no_progress; /* HF_HUB_DISABLE_PROGRESS_BARS or NO_COLOR */
	int no_color;    /* NO_COLOR */
};

/* Reads the environment. Never reads the token file: commands that do not talk to the
 * Hub (inspect, convert of a directory, quantize, cache, license of a directory) must
 * work whatever state it is in. */
int settings_load(struct modl_settings *s);
void settings_free(struct modl_settings *s);

/* The token to send: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, else the token file
 * (HF_TOKEN_PATH, default HF_HOME/token), read on the first call only. NULL when there
 * is none. A token file that cannot be used (not a regular file, unreadable, larger than
 * SETTINGS_TOKEN_FILE_MAX bytes, HF_HOME not a directory) is not an error: the first call
 * warns once on stderr ("modl: warning: token file PATH: why; continuing without a
 * token") and the command goes on anonymously. *source ("HF_TOKEN", ..., "token file")
 * when source is not NULL. The settings are const to commands: the result is kept in
 * *s->token_file, which settings_load allocates. */
const char *settings_token(const struct modl_settings *s, const char **source);

/* The same without the warning, for `modl env`: *problem says why the token file could
 * not be used, NULL when it could or there is none. */
const char *settings_token_status(const struct modl_settings *s, const char **source, const char **problem);

#define SETTINGS_TOKEN_FILE_MAX 4096

/* Removes CR/LF and surrounding white space in place; returns 0 if nothing is left. */
int settings_clean_token(char *token);

/* True for "1", "true", "yes", "on" (any case), as huggingface_hub reads booleans. */
int settings_env_true(const char *name);

#endif
