/* The stored token: $HF_TOKEN_PATH (default $HF_HOME/token), plain text without a
 * newline, mode 0600 in a 0700 directory, as huggingface_hub writes it. */
#ifndef MODL_AUTH_H
#define MODL_AUTH_H

#include <stdio.h>

#include "util/settings.h"

/* Stores token atomically at settings->token_path. */
int auth_store_token(const struct modl_settings *settings, const char *token);
/* Removes the token file; *removed tells whether there was one. */
int auth_remove_token(const struct modl_settings *settings, int *removed);
/* Reads a token from a stream (login without --token): first line, cleaned. */
int auth_read_token(FILE *in, char *out, size_t size);

#endif
