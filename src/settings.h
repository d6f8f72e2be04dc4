/* Settings read from the environment with the meaning the Hugging Face tools give them
 * (hub-protocol.md §2.1, §2.3): endpoint, cache locations, token, offline mode. */
#ifndef MODL_SETTINGS_H
#define MODL_SETTINGS_H

struct modl_settings {
	char *endpoint;      /* HF_ENDPOINT without trailing '/' */
	char *hf_home;       /* HF_HOME → XDG_CACHE_HOME/huggingface → ~/.cache/huggingface */
	char *hub_cache;     /* HF_HUB_CACHE → HUGGINGFACE_HUB_CACHE → HF_HOME/hub */
	char *token_path;    /* HF_TOKEN_PATH → HF_HOME/token */
	char *token;         /* NULL when none was found; never printed */
	const char *token_source; /* "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", the token file, or NULL */
	int offline;         /* HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set to a true value */
	int no_progress;     /* HF_HUB_DISABLE_PROGRESS_BARS or NO_COLOR */
	int no_color;        /* NO_COLOR */
};

int settings_load(struct modl_settings *s);
void settings_free(struct modl_settings *s);

/* Removes CR/LF and surrounding white space in place; returns 0 if nothing is left. */
int settings_clean_token(char *token);

/* True for "1", "true", "yes", "on" (any case), as huggingface_hub reads booleans. */
int settings_env_true(const char *name);

#endif
