/* One error facility for the whole library (libgit2 style).
 *
 * Functions return 0 on success or a negative MODL_E* code; the human message of the
 * most recent failure on this thread is kept by modl_error_set() and read back once by
 * the command dispatcher, which alone turns the code into an exit status. */
#ifndef MODL_ERROR_H
#define MODL_ERROR_H

enum modl_error_code {
	MODL_OK = 0,
	MODL_EFAIL = -1,      /* other runtime failure: I/O, disk full, internal */
	MODL_EUSAGE = -2,     /* bad command line */
	MODL_ENET = -3,       /* network failure after retries, or offline and not cached */
	MODL_ENOTFOUND = -4,  /* repo, revision or file not found */
	MODL_EAUTH = -5,      /* bad token, gated repo not accepted, private repo */
	MODL_EINTEGRITY = -6, /* hash or size mismatch */
	MODL_EPOLICY = -7,    /* license policy violated */
	MODL_EINVALID = -8,   /* malformed input file or hostile server answer */
};

/* Records the message for the current failure and returns code, so that callers can
 * write `return modl_error_set(MODL_ENET, "...", ...);`. A later call replaces it. */
int modl_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like modl_error_set, with ": strerror(errno_value)" appended. */
int modl_error_errno(int code, int errno_value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the current message with "prefix: " (adds context while unwinding). */
void modl_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one out-of-memory failure: MODL_EFAIL, "out of memory". */
int modl_error_oom(void);

/* A failure reported by formats/ (an FMT_* status with its message) as the MODL_E* code
 * of doc/cli.md: FMT_ENOTFOUND is not found (exit 4), FMT_EINVALID and FMT_EUNSUPPORTED are
 * invalid input (8), FMT_ENOMEM and FMT_EIO other failures (1). The message is
 * "<path>: <message>". The one place that mapping is decided. */
int modl_error_from_fmt(int fmt_status, const char *path, const char *message);

/* The current failure, kept aside while cleanup code that may itself fail runs, so that
 * the first error is the one reported:
 *     struct modl_error_saved saved; modl_error_save(&saved);
 *     cleanup();                      (may call modl_error_set)
 *     return modl_error_restore(&saved);   (the saved code, its message back) */
struct modl_error_saved {
	int code;
	char message[1024];
};
void modl_error_save(struct modl_error_saved *saved);
int modl_error_restore(const struct modl_error_saved *saved);

const char *modl_error_message(void);
int modl_error_code(void);
void modl_error_clear(void);

/* Exit status of doc/cli.md for a MODL_E* code (0 for MODL_OK). */
int modl_error_exit_status(int code);

#endif
