#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Thread-local so that pool workers can fail independently; each worker's failure is
 * copied into the job result by its owner before the thread ends. */
static _Thread_local struct {
	int code;
	char message[1024];
} last_error;

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
	char prefix[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t plen = strlen(prefix) + 2, cap = sizeof(last_error.message) - 1;
	size_t mlen = strlen(last_error.message);
	if (mlen > cap - plen)
		mlen = cap - plen;
	memmove(last_error.message + plen, last_error.message, mlen);
	memcpy(last_error.message, prefix, plen - 2);
	memcpy(last_error.message + plen - 2, ": ", 2);
	last_error.message[plen + mlen] = '\0';
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
