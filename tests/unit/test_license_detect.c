/* Identification by content (src/license/detect.c) over the whole knowledge base: every
 * text as itself, re-flowed, re-wrapped, with other line ends, partly quoted, with a
 * changed clause; the real-world copies of src/license/testdata/variants/; texts that are
 * not licenses. The variants are made here from the originals. */
#include "unit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/fs.h"
#include "license/detect.h"
#include "util/strbuf.h"

static const struct license_info *kb_all(size_t *n)
{
	const struct license_info *kb;
	assert_int_equal(license_kb(&kb, n), 0);
	return kb;
}

/* The single text identified in text, or NULL; fails on more than one. */
static const struct license_match *identify(const char *text, size_t len, struct license_detection *d)
{
	assert_int_equal(license_detect(text, len, d), 0);
	return d->count ? &d->matches[0] : NULL;
}

static void expect_id(const char *what, const char *text, size_t len, const char *id, double min_confidence,
		      int altered)
{
	struct license_detection d;
	const struct license_match *m = identify(text, len, &d);
	if (!m)
		fail_msg("%s: unknown, expected %s", what, id);
	if (strcmp(m->info->id, id))
		fail_msg("%s: %s (%.2f), expected %s", what, m->info->id, m->confidence, id);
	if (m->confidence < min_confidence)
		fail_msg("%s: %s with confidence %.3f < %.2f", what, id, m->confidence, min_confidence);
	if (m->altered != altered)
		fail_msg("%s: altered=%d, expected %d", what, m->altered, altered);
	license_detection_free(&d);
}

/* ---- variants --------------------------------------------------------------------------- */

/* Paragraphs (blank-line separated) joined into single lines. */
static char *reflow(const char *t)
{
	struct strbuf sb = STRBUF_INIT;
	int pending_space = 0, blank = 0;
	for (const char *line = t; *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		size_t a = 0, b = n;
		while (a < b && isspace((unsigned char)line[a]))
			a++;
		while (b > a && isspace((unsigned char)line[b - 1]))
			b--;
		if (a == b) {
			if (!blank && sb.len)
				strbuf_adds(&sb, "\n\n");
			blank = 1;
			pending_space = 0;
		} else {
			if (pending_space)
				strbuf_adds(&sb, " ");
			strbuf_add(&sb, line + a, b - a);
			pending_space = 1;
			blank = 0;
		}
		line += n + (nl != NULL);
	}
	strbuf_adds(&sb, "\n");
	return strbuf_take(&sb);
}

/* Re-wrapped at width columns, on spaces, with CRLF line ends. */
static char *rewrap(const char *t, size_t width)
{
	char *flat = reflow(t);
	struct strbuf sb = STRBUF_INIT;
	size_t col = 0;
	for (char *p = flat; *p;) {
		if (*p == '\n') {
			strbuf_adds(&sb, "\r\n");
			col = 0;
			p++;
			continue;
		}
		size_t w = strcspn(p, " \n");
		if (col && col + w + 1 > width) {
			strbuf_adds(&sb, "\r\n");
			col = 0;
		} else if (col) {
			strbuf_adds(&sb, " ");
			col++;
		}
		strbuf_add(&sb, p, w);
		col += w;
		p += w;
		if (*p == ' ')
			p++;
	}
	free(flat);
	return strbuf_take(&sb);
}

/* The first share of the words (whole lines), inside other text. */
static char *quote_head(const char *t, double share)
{
	size_t words = 0, total = 0;
	for (const char *p = t; *p; p++)
		total += !isspace((unsigned char)*p) && (p == t || isspace((unsigned char)p[-1]));
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "The weights are released under the terms below.\n\n");
	const char *p = t;
	while (*p && words < share * (double)total) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		for (size_t i = 0; i < n; i++)
			words += !isspace((unsigned char)p[i]) &&
				 (i == 0 ? p == t || isspace((unsigned char)p[-1])
					 : isspace((unsigned char)p[i - 1]));
		strbuf_add(&sb, p, n);
		p += n;
	}
	strbuf_adds(&sb, "\n\nSee the publisher's site for everything else.\n");
	return strbuf_take(&sb);
}

static const char inserted[] = "except for any commercial purpose whatsoever,";

/* The text with a clause inserted after the first word that follows its middle. */
static char *insert_clause(const char *t, size_t len)
{
	size_t at = len / 2;
	while (at < len && !isspace((unsigned char)t[at]))
		at++;
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, t, at);
	strbuf_addf(&sb, " %s", inserted);
	strbuf_add(&sb, t + at, len - at);
	return strbuf_take(&sb);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_every_text_is_itself(void **state)
{
	(void)state;
	size_t n, texts = 0;
	const struct license_info *kb = kb_all(&n);
	for (size_t i = 0; i < n; i++) {
		if (!kb[i].text)
			continue;
		texts++;
		struct license_detection d;
		const struct license_match *m = identify(kb[i].text, kb[i].text_len, &d);
		assert_non_null(m);
		assert_int_equal(d.count, 1);
		assert_string_equal(m->info->id, kb[i].id);
		assert_true(m->confidence >= 0.999);
		assert_false(m->altered);
		assert_false(m->incomplete);
		assert_int_equal(m->alternative_count, 0);
		license_detection_free(&d);
	}
	assert_true(texts >= 38);
}

static void test_reflowed_and_rewrapped(void **state)
{
	(void)state;
	size_t n;
	const struct license_info *kb = kb_all(&n);
	for (size_t i = 0; i < n; i++) {
		if (!kb[i].text)
			continue;
		char *flat = reflow(kb[i].text), *narrow = rewrap(kb[i].text, 40),
		     *wide = rewrap(kb[i].text, 100);
		expect_id("reflowed", flat, strlen(flat), kb[i].id, 0.97, 0);
		expect_id("wrapped at 40", narrow, strlen(narrow), kb[i].id, 0.97, 0);
		expect_id("wrapped at 100", wide, strlen(wide), kb[i].id, 0.97, 0);
		free(flat);
		free(narrow);
		free(wide);
	}
}

static void test_partly_quoted(void **state)
{
	(void)state;
	size_t n;
	const struct license_info *kb = kb_all(&n);
	for (size_t i = 0; i < n; i++) {
		if (!kb[i].text)
			continue;
		char *q = quote_head(kb[i].text, 0.8);
		struct license_detection d;
		const struct license_match *m = identify(q, strlen(q), &d);
		if (!m || strcmp(m->info->id, kb[i].id))
			fail_msg("80%% of %s: %s", kb[i].id, m ? m->info->id : "unknown");
		assert_false(m->altered);
		assert_true(m->confidence >= LICENSE_MIN_CONFIDENCE);
		assert_true(m->extra_words > 0);
		license_detection_free(&d);
		free(q);
	}
}

static void test_changed_clause(void **state)
{
	(void)state;
	size_t n;
	const struct license_info *kb = kb_all(&n);
	for (size_t i = 0; i < n; i++) {
		if (!kb[i].text)
			continue;
		char *t = insert_clause(kb[i].text, kb[i].text_len);
		struct license_detection d;
		const struct license_match *m = identify(t, strlen(t), &d);
		if (!m || strcmp(m->info->id, kb[i].id))
			fail_msg("%s with a clause: %s", kb[i].id, m ? m->info->id : "unknown");
		if (!m->altered)
			fail_msg("%s with a clause: not altered", kb[i].id);
		assert_int_equal(m->region_count, 1);
		assert_int_equal(m->regions[0].kind, LICENSE_REGION_ADDED);
		assert_non_null(strstr(m->regions[0].shipped, "any commercial purpose whatsoever"));
		assert_null(strstr(m->regions[0].known, "any commercial purpose whatsoever"));
		assert_int_equal(m->regions[0].shipped_words, 6);
		license_detection_free(&d);
		free(t);
	}
}

static void test_changed_number_and_removed_sentence(void **state)
{
	(void)state;
	const struct license_info *l = license_kb_find("llama3.1");
	struct strbuf sb = STRBUF_INIT;
	const char *at = strstr(l->text, "700 million");
	assert_non_null(at);
	strbuf_add(&sb, l->text, (size_t)(at - l->text));
	strbuf_adds(&sb, "7000 million");
	strbuf_adds(&sb, at + strlen("700 million"));
	struct license_detection d;
	const struct license_match *m = identify(sb.buf, sb.len, &d);
	assert_string_equal(m->info->id, "llama3.1");
	assert_true(m->altered);
	assert_int_equal(m->regions[0].kind, LICENSE_REGION_CHANGED);
	assert_non_null(strstr(m->regions[0].known, "greater than 700 million monthly active users"));
	assert_non_null(strstr(m->regions[0].shipped, "greater than 7000 million monthly active users"));
	assert_int_equal(m->regions[0].shipped_line, m->regions[0].known_line);
	license_detection_free(&d);
	strbuf_free(&sb);
	/* The governing-law sentence of Llama 2 removed. */
	l = license_kb_find("llama2");
	const char *law = strstr(l->text, "The courts of California");
	assert_non_null(law);
	strbuf_add(&sb, l->text, (size_t)(law - l->text));
	strbuf_adds(&sb, strchr(law, '.') + 1);
	strbuf_adds(&sb, "\n");
	m = identify(sb.buf, sb.len, &d);
	assert_string_equal(m->info->id, "llama2");
	/* at the very end: the copy is short of its last sentence */
	assert_true(m->altered || m->incomplete);
	license_detection_free(&d);
	strbuf_free(&sb);
}

static char *read_variant(const char *name, size_t *len)
{
	char path[256], *text = NULL;
	snprintf(path, sizeof(path), "src/license/testdata/variants/%s", name);
	if (fs_read_file(path, 1u << 20, &text, len))
		fail_msg("%s: %s (run from the work tree root)", path, modl_error_message());
	return text;
}

static void test_real_world_variants(void **state)
{
	(void)state;
	static const struct {
		const char *file, *id;
		/* clang-format off */
	} cases[] = {
		{ "apache-2.0-debian-common-licenses.txt", "apache-2.0" },
		{ "gemma-numbered-list.txt", "gemma" },
		{ "llama2-trailing-whitespace.txt", "llama2" },
		{ "mit-llama2.c.txt", "mit" },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *t = read_variant(cases[i].file, &len);
		expect_id(cases[i].file, t, len, cases[i].id, 0.97, 0);
		free(t);
	}
}

static void test_not_licenses(void **state)
{
	(void)state;
	/* clang-format off */
	static const char *const texts[] = {
		"",
		"MIT",
		"# tiny\n\nA small model for tests. Run it with llama.cpp. Built with love.\n",
		"This model is licensed under the Apache License, Version 2.0. See LICENSE.\n",
		"Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright (c) Meta "
		"Platforms, Inc. All Rights Reserved.\n",
		"Permission is granted to use this model for any purpose, provided that you do not "
		"sue us, and that you credit the authors in any paper that uses it. No warranty.\n",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct license_detection d;
		assert_int_equal(license_detect(texts[i], strlen(texts[i]), &d), 0);
		if (d.count)
			fail_msg("text %zu taken for %s", i, d.matches[0].info->id);
		license_detection_free(&d);
	}
	/* Binary garbage is words too, but no license. */
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	struct license_detection d;
	assert_int_equal(license_detect(junk, sizeof(junk), &d), 0);
	assert_int_equal(d.count, 0);
}

static void test_two_texts_in_one_file(void **state)
{
	(void)state;
	const struct license_info *l = license_kb_find("llama3.3"), *p = license_kb_find("llama3.3-aup");
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, l->text, l->text_len);
	strbuf_adds(&sb, "\n\n");
	strbuf_add(&sb, p->text, p->text_len);
	struct license_detection d;
	assert_int_equal(license_detect(sb.buf, sb.len, &d), 0);
	assert_int_equal(d.count, 2);
	assert_string_equal(d.matches[0].info->id, "llama3.3");
	assert_string_equal(d.matches[1].info->id, "llama3.3-aup");
	assert_false(d.matches[0].altered);
	license_detection_free(&d);
	strbuf_free(&sb);
}

/* The hashes of the words that are not soft. */
static size_t hard_words(const char *text, uint32_t *out, size_t max)
{
	struct license_tokens t;
	size_t n = 0;
	assert_int_equal(license_tokenize(text, strlen(text), &t), 0);
	for (size_t i = 0; i < t.count && n < max; i++)
		if (!t.items[i].soft)
			out[n++] = t.items[i].hash;
	license_tokens_free(&t);
	return n;
}

static void test_normalisation(void **state)
{
	(void)state;
	uint32_t a[64], b[64];
	/* Markdown, HTML, URLs, quotes, list numbers and line breaks are not words. */
	const char *x =
		"1. **Grant of Rights.** You are granted a license (see https://example.com/x),\n"
		"   and <span\nstyle=\"u\">\u201cLlama\u201d</span> &amp; [the policy](http://a.b/c).\n";
	const char *y = "Grant of Rights. You are granted a license (see ), and \"Llama\" & the policy.";
	size_t na = hard_words(x, a, 64), nb = hard_words(y, b, 64);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(*a));
	assert_int_equal(na, 12);
	/* "3.1" stays two words and "700" one; a copyright statement is soft. */
	struct license_tokens t;
	const char *c = "Copyright (c) 2023 Andrej\nLlama 3.1 has 700 users.";
	assert_int_equal(license_tokenize(c, strlen(c), &t), 0);
	assert_true(t.items[0].soft && t.items[1].soft && t.items[2].soft && t.items[3].soft);
	license_tokens_free(&t);
	assert_int_equal(hard_words(c, a, 64), 6);
	/* "licence" is "license" */
	assert_int_equal(hard_words("all licences", a, 64), 2);
	assert_int_equal(hard_words("all licenses", b, 64), 2);
	assert_memory_equal(a, b, 2 * sizeof(*a));
	const char *hay = "x\nLLAMA 3.1  is licensed\nunder the\tLlama";
	assert_true(license_text_contains(hay, strlen(hay), "Llama 3.1 is licensed under the Llama"));
	assert_false(license_text_contains(hay, strlen(hay), "Llama 3.2 is licensed"));
}

static void test_speed(void **state)
{
	(void)state;
	/* The whole corpus against a repo's five files, after the one-time index: generous
	 * bounds, since this runs under the sanitizers. */
	const char *ids[] = { "llama3.1", "llama3.1-aup", "apache-2.0", "gemma", "mit" };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < 5; i++) {
		const struct license_info *l = license_kb_find(ids[i]);
		struct license_detection d;
		assert_int_equal(license_detect(l->text, l->text_len, &d), 0);
		license_detection_free(&d);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms < 2000);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_text_is_itself),
		cmocka_unit_test(test_reflowed_and_rewrapped),
		cmocka_unit_test(test_partly_quoted),
		cmocka_unit_test(test_changed_clause),
		cmocka_unit_test(test_changed_number_and_removed_sentence),
		cmocka_unit_test(test_real_world_variants),
		cmocka_unit_test(test_not_licenses),
		cmocka_unit_test(test_two_texts_in_one_file),
		cmocka_unit_test(test_normalisation),
		cmocka_unit_test(test_speed),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
