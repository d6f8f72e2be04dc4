/* src/escape: text from outside made safe for a terminal. Printable UTF-8 of any script
 * is kept byte for byte; C0 controls, DEL, C1 controls, bidi controls and ill-formed
 * UTF-8 are escaped; the JSON pass keeps the document's values. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

static char *esc(const char *s, size_t len, unsigned flags)
{
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(escape_add(&sb, s, len, (size_t)-1, flags), 0);
	return strbuf_take(&sb);
}

static void expect(const char *in, const char *want, unsigned flags)
{
	char *got = esc(in, strlen(in), flags);
	assert_string_equal(got, want);
	free(got);
}

static void test_printable_utf8_is_kept(void **state)
{
	(void)state;
	const char *legit =
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xd7\xa9\xd7\x9c \xf0\x9f\x98\x80 a\\b \"q\" \xe2\x80\x99";
	expect(legit, legit, 0);
	expect("tab\there", "tab\\there", 0);
	expect("a\nb", "a\\nb", 0);
	expect("a\nb", "a\nb", ESCAPE_KEEP_LF);
}

static void test_controls_are_escaped(void **state)
{
	(void)state;
	expect("\x1b]0;pwned\x07\x1b[31m", "\\x1b]0;pwned\\x07\\x1b[31m", 0);
	expect("del\x7f", "del\\x7f", 0);
	expect("c1 \xc2\x9b \xc2\x80 \xc2\x9f \xc2\xa0", "c1 \\u009b \\u0080 \\u009f \xc2\xa0", 0);
	expect("bidi \xe2\x80\xae \xe2\x80\xaa \xe2\x81\xa6 \xe2\x81\xa9 \xe2\x80\xab",
	       "bidi \\u202e \\u202a \\u2066 \\u2069 \\u202b", 0);
	/* Ill-formed: a lone C1 byte, a truncated sequence, an overlong form, a surrogate. */
	expect("\x9b \xe2\x80 \xc0\xaf \xed\xa0\x80", "\\x9b \\xe2\\x80 \\xc0\\xaf \\xed\\xa0\\x80", 0);
	expect("a\"b\\c", "\"a\\\"b\\\\c\"", ESCAPE_QUOTE | ESCAPE_BACKSLASH);
	char *nul = esc("a\0b", 3, 0);
	assert_string_equal(nul, "a\\x00b");
	free(nul);
}

static void test_cut_after_max(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(escape_add(&sb, "abcdef", 6, 3, ESCAPE_QUOTE), 0);
	assert_string_equal(sb.buf, "\"abc\"... (6 bytes)");
	strbuf_free(&sb);
}

static void test_json_text(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *json = "{\"a\": \"x\xc2\x9b\xe2\x80\xae\x7f caf\xc3\xa9 \x9b\"}";
	assert_int_equal(escape_add_json_text(&sb, json), 0);
	assert_string_equal(sb.buf, "{\"a\": \"x\\u009b\\u202e\\u007f caf\xc3\xa9 \\ufffd\"}");
	strbuf_free(&sb);
}

static void test_pool(void **state)
{
	(void)state;
	struct escape_pool pool = ESCAPE_POOL_INIT;
	assert_null(escape_pool_str(&pool, NULL));
	assert_string_equal(escape_pool_str(&pool, "x\x1b"), "x\\x1b");
	assert_string_equal(escape_pool_str(&pool, ""), "");
	escape_pool_free(&pool);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_utf8_is_kept),
		cmocka_unit_test(test_controls_are_escaped),
		cmocka_unit_test(test_cut_after_max),
		cmocka_unit_test(test_json_text),
		cmocka_unit_test(test_pool),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
