#include "error.h"

#include "formats/fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Thread-local so that pool workers can fail independently; each worker's failure is
 * copied into the job result by its owner before the thread ends. */
static _Thread_local struct modl_error_saved last_error;

static int error_vset(int code, const char *suffix, const char *fmt, va_list ap)
{
	int n = vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(last_error.message))
		snprintf(last_error.message + n, sizeof(last_error.message) - (size_t)n, ": %s", suffix);
	last_error.code = code;
	return code;
}

int modl_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int modl_error_errno(int code, int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(code, strerror(errno_value), fmt, ap);
	va_end(ap);
	return code;
}

void modl_error_prefix(const char *fmt, ...)
{
	/* Format "prefix: " straight into the message buffer, after moving the old message
	 * out of the way: no second buffer, and the prefix may be as long as the message. */
	struct modl_error_saved old = last_error;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
	va_end(ap);
	size_t used = n < 0 ? 0 : (size_t)n, cap = sizeof(last_error.message) - 1;
	if (used > cap)
		used = cap;
	const char *parts[2] = { ": ", old.message };
	for (int i = 0; i < 2; i++) {
		size_t len = strlen(parts[i]);
		if (len > cap - used)
			len = cap - used; /* cut at the buffer's end, as modl_error_set does */
		memcpy(last_error.message + used, parts[i], len);
		used += len;
	}
	last_error.message[used] = '\0';
}

int modl_error_oom(void)
{
	return modl_error_set(MODL_EFAIL, "out of memory");
}

int modl_error_from_fmt(int fmt_status, const char *path, const char *message)
{
	int code;
	switch (fmt_status) {
	case FMT_ENOTFOUND: code = MODL_ENOTFOUND; break;
	case FMT_EINVALID:
	case FMT_EUNSUPPORTED: code = MODL_EINVALID; break;
	case FMT_ENOMEM: return modl_error_oom();
	default: code = MODL_EFAIL; break;
	}
	return modl_error_set(code, "%s: %s", path, message);
}

void modl_error_save(struct modl_error_saved *saved)
{
	*saved = last_error;
}

int modl_error_restore(const struct modl_error_saved *saved)
{
	last_error = *saved;
	return saved->code;
}

const char *modl_error_message(void)
{
	return last_error.message[0] ? last_error.message : "unknown error";
}

int modl_error_code(void)
{
	return last_error.code;
}

void modl_error_clear(void)
{
	last_error.code = 0;
	last_error.message[0] = '\0';
}

int modl_error_exit_status(int code)
{
	if (code >= 0)
		return 0;
	if (code < MODL_EINVALID)
		return 1;
	return -code;
}
