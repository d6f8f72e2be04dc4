/* SentencePiece's ModelProto, read strictly (see spm_model.h).
 *
 * The fields read (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type, 4 vocab_size, 35 byte_fallback,
 *                   40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id (int32)
 *   NormalizerSpec  3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces
 * Everything else is skipped after its length has been checked. */
#include "spm_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum wire_type { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_BYTES = 2, WIRE_FIXED32 = 5 };

/* A cursor over one message's bytes; offsets in messages are from the file's start. */
struct pb {
	const unsigned char *base; /* the whole file, for offsets in messages */
	const unsigned char *p, *end;
};

struct pb_field {
	uint32_t number;
	int wire;
	uint64_t varint;            /* WIRE_VARINT */
	uint32_t fixed32;           /* WIRE_FIXED32 */
	const unsigned char *bytes; /* WIRE_BYTES */
	size_t len;
	size_t offset; /* where the field's tag starts */
};

struct parse {
	struct spm_model *m;
	struct fmt_error *err;
	size_t pieces_cap;
	size_t storage_len, storage_cap;
	struct fmt_nameset names;
};

static int read_varint(struct pb *b, uint64_t *out, struct fmt_error *err)
{
	uint64_t v = 0;
	size_t start = (size_t)(b->p - b->base);
	for (unsigned i = 0; i < 10; i++) {
		if (b->p >= b->end)
			return fmt_error_set(err, FMT_EINVALID, "offset %zu: truncated varint", start);
		unsigned char c = *b->p++;
		/* The tenth byte holds only bit 63. */
		if (i == 9 && c > 1)
			return fmt_error_set(err, FMT_EINVALID, "offset %zu: varint longer than 64 bits",
					     start);
		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return fmt_error_set(err, FMT_EINVALID, "offset %zu: varint longer than 10 bytes", start);
}

/* 1 with the next field in f, 0 at the end of the message, or an error. */
static int next_field(struct pb *b, struct pb_field *f, struct fmt_error *err)
{
	uint64_t tag, len;
	int rc;
	if (b->p == b->end)
		return 0;
	f->offset = (size_t)(b->p - b->base);
	if ((rc = read_varint(b, &tag, err)))
		return rc;
	if (tag >> 3 == 0 || tag >> 3 > 536870911u)
		return fmt_error_set(err, FMT_EINVALID, "offset %zu: invalid field number %llu", f->offset,
				     (unsigned long long)(tag >> 3));
	f->number = (uint32_t)(tag >> 3);
	f->wire = (int)(tag & 7);
	switch (f->wire) {
	case WIRE_VARINT: return (rc = read_varint(b, &f->varint, err)) ? rc : 1;
	case WIRE_FIXED64:
		if (b->end - b->p < 8)
			return fmt_error_set(err, FMT_EINVALID, "offset %zu: truncated 64-bit field %u",
					     f->offset, f->number);
		b->p += 8;
		return 1;
	case WIRE_FIXED32:
		if (b->end - b->p < 4)
			return fmt_error_set(err, FMT_EINVALID, "offset %zu: truncated 32-bit field %u",
					     f->offset, f->number);
		f->fixed32 = fmt_le32(b->p);
		b->p += 4;
		return 1;
	case WIRE_BYTES:
		if ((rc = read_varint(b, &len, err)))
			return rc;
		if (len > (uint64_t)(b->end - b->p))
			return fmt_error_set(
				err, FMT_EINVALID,
				"offset %zu: field %u is %llu bytes long, past the end of its message",
				f->offset, f->number, (unsigned long long)len);
		f->bytes = b->p;
		f->len = (size_t)len;
		b->p += len;
		return 1;
	default:
		return fmt_error_set(err, FMT_EINVALID,
				     "offset %zu: field %u has wire type %d (groups and "
				     "unknown wire types are not allowed)",
				     f->offset, f->number, f->wire);
	}
}

/* The field must have the wire type its declaration gives. */
static int expect_wire(const struct pb_field *f, int wire, const char *what, struct fmt_error *err)
{
	if (f->wire == wire)
		return 0;
	return fmt_error_set(err, FMT_EINVALID, "offset %zu: %s (field %u) has wire type %d, expected %d",
			     f->offset, what, f->number, f->wire, wire);
}

static int read_int32(const struct pb_field *f, const char *what, int32_t *out, struct fmt_error *err)
{
	int rc = expect_wire(f, WIRE_VARINT, what, err);
	if (rc)
		return rc;
	int64_t v = (int64_t)f->varint;
	if (v < INT32_MIN || v > INT32_MAX)
		return fmt_error_set(err, FMT_EINVALID, "offset %zu: %s %lld is not a 32-bit integer",
				     f->offset, what, (long long)v);
	*out = (int32_t)v;
	return 0;
}

static int read_bool(const struct pb_field *f, const char *what, int *out, struct fmt_error *err)
{
	int rc = expect_wire(f, WIRE_VARINT, what, err);
	if (!rc)
		*out = f->varint != 0;
	return rc;
}

/* ---- the three messages ---------------------------------------------------------------- */

static int add_piece(struct parse *ps, const struct pb_field *text, float score, int type, size_t offset)
{
	struct spm_model *m = ps->m;
	size_t bad;
	if (!text)
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: piece %zu has no text", offset,
				     m->count);
	if (text->len == 0)
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: piece %zu is empty", offset,
				     m->count);
	if (memchr(text->bytes, 0, text->len))
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: piece %zu contains a NUL byte",
				     offset, m->count);
	if (fmt_utf8_check(text->bytes, text->len, &bad))
		return fmt_error_set(ps->err, FMT_EINVALID,
				     "offset %zu: piece %zu is not valid UTF-8 "
				     "(byte %zu of its text)",
				     offset, m->count, bad);
	if (!isfinite(score))
		return fmt_error_set(ps->err, FMT_EINVALID,
				     "offset %zu: piece %zu has a score that is not finite", offset,
				     m->count);
	if (type < SPM_PIECE_NORMAL || type > SPM_PIECE_BYTE)
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: piece %zu has unknown type %d",
				     offset, m->count, type);
	if (m->count >= SPM_MODEL_MAX_PIECES)
		return fmt_error_set(ps->err, FMT_EINVALID, "more than %u pieces", SPM_MODEL_MAX_PIECES);
	if (m->count == ps->pieces_cap) {
		size_t cap = ps->pieces_cap ? ps->pieces_cap * 2 : 1024;
		struct spm_piece *p = realloc(m->pieces, cap * sizeof(*p));
		if (!p)
			return fmt_error_oom(ps->err);
		m->pieces = p;
		ps->pieces_cap = cap;
	}
	/* Each piece costs at least two bytes of encoding more than its text, so the storage
	 * (as large as the file) cannot overflow; checked anyway. */
	if (text->len + 1 > ps->storage_cap - ps->storage_len)
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: pieces larger than the file",
				     offset);
	char *s = m->storage + ps->storage_len;
	memcpy(s, text->bytes, text->len);
	s[text->len] = '\0';
	ps->storage_len += text->len + 1;
	size_t first;
	int added = fmt_nameset_add(&ps->names, s, text->len, m->count, &first);
	if (added < 0)
		return fmt_error_oom(ps->err);
	if (!added)
		return fmt_error_set(ps->err, FMT_EINVALID, "offset %zu: piece %zu \"%s\" repeats piece %zu",
				     offset, m->count, s, first);
	m->pieces[m->count++] = (struct spm_piece){ s, text->len, score, type };
	return 0;
}

static struct pb sub_message(const struct pb *parent, const struct pb_field *f)
{
	struct pb b = { parent->base, f->bytes, f->bytes + f->len };
	return b;
}

static int parse_piece(struct parse *ps, const struct pb *parent, const struct pb_field *outer)
{
	struct pb b = sub_message(parent, outer);
	struct pb_field f, text;
	const struct pb_field *have_text = NULL;
	int type = SPM_PIECE_NORMAL, rc;
	float score = 0;
	while ((rc = next_field(&b, &f, ps->err)) == 1) {
		if (f.number == 1) {
			if ((rc = expect_wire(&f, WIRE_BYTES, "piece", ps->err)))
				return rc;
			text = f;
			have_text = &text;
		} else if (f.number == 2) {
			if ((rc = expect_wire(&f, WIRE_FIXED32, "score", ps->err)))
				return rc;
			memcpy(&score, &f.fixed32, sizeof(score));
		} else if (f.number == 3) {
			int32_t t;
			if ((rc = read_int32(&f, "type", &t, ps->err)))
				return rc;
			type = t;
		}
	}
	return rc ? rc : add_piece(ps, have_text, score, type, outer->offset);
}

static int parse_trainer_spec(struct parse *ps, const struct pb *parent, const struct pb_field *outer)
{
	struct spm_model *m = ps->m;
	struct pb b = sub_message(parent, outer);
	struct pb_field f;
	int32_t v;
	int rc;
	while ((rc = next_field(&b, &f, ps->err)) == 1) {
		switch (f.number) {
		case 3:
			if ((rc = read_int32(&f, "trainer_spec.model_type", &v, ps->err)))
				return rc;
			if (v < SPM_MODEL_UNIGRAM || v > SPM_MODEL_CHAR)
				return fmt_error_set(ps->err, FMT_EINVALID,
						     "offset %zu: unknown model_type %d", f.offset, v);
			m->model_type = v;
			break;
		case 4:
			if ((rc = read_int32(&f, "trainer_spec.vocab_size", &v, ps->err)))
				return rc;
			m->trainer_vocab_size = v > 0 ? (uint32_t)v : 0;
			break;
		case 35:
			if ((rc = read_bool(&f, "trainer_spec.byte_fallback", &m->byte_fallback, ps->err)))
				return rc;
			break;
		case 40:
		case 41:
		case 42:
		case 43: {
			static const char *const names[] = { "trainer_spec.unk_id", "trainer_spec.bos_id",
							     "trainer_spec.eos_id", "trainer_spec.pad_id" };
			int32_t *ids[] = { &m->unk_id, &m->bos_id, &m->eos_id, &m->pad_id };
			if ((rc = read_int32(&f, names[f.number - 40], ids[f.number - 40], ps->err)))
				return rc;
			break;
		}
		default: break;
		}
	}
	return rc;
}

static int parse_normalizer_spec(struct parse *ps, const struct pb *parent, const struct pb_field *outer)
{
	struct spm_model *m = ps->m;
	struct pb b = sub_message(parent, outer);
	struct pb_field f;
	int rc;
	while ((rc = next_field(&b, &f, ps->err)) == 1) {
		if (f.number == 3)
			rc = read_bool(&f, "normalizer_spec.add_dummy_prefix", &m->add_dummy_prefix, ps->err);
		else if (f.number == 4)
			rc = read_bool(&f, "normalizer_spec.remove_extra_whitespaces",
				       &m->remove_extra_whitespaces, ps->err);
		else if (f.number == 5)
			rc = read_bool(&f, "normalizer_spec.escape_whitespaces", &m->escape_whitespaces,
				       ps->err);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* ---- whole-model checks ---------------------------------------------------------------- */

static int check_id(const struct spm_model *m, int32_t id, const char *what, struct fmt_error *err)
{
	if (id == -1 || (id >= 0 && (size_t)id < m->count))
		return 0;
	return fmt_error_set(err, FMT_EINVALID,
			     "trainer_spec.%s %d is neither -1 nor a piece id (%zu pieces)", what, id,
			     m->count);
}

/* A BYTE piece is "<0xNN>" with two upper-case hex digits; with byte_fallback all 256
 * must be there, or llama.cpp fails on the first byte it cannot find ("byte not found in
 * vocab", ollama/ollama#5255). */
static int check_bytes(const struct spm_model *m, struct fmt_error *err)
{
	unsigned char seen[256] = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < m->count; i++) {
		const struct spm_piece *p = &m->pieces[i];
		unsigned v;
		char tail;
		if (p->type != SPM_PIECE_BYTE)
			continue;
		if (p->len != 6 || sscanf(p->text, "<0x%2X%c", &v, &tail) != 2 || tail != '>' ||
		    strspn(p->text + 3, "0123456789ABCDEF") != 2)
			return fmt_error_set(err, FMT_EINVALID,
					     "piece %zu \"%s\" has type BYTE but is not <0xNN>", i, p->text);
		if (!seen[v]++)
			n++;
	}
	if (m->byte_fallback && n != 256)
		return fmt_error_set(err, FMT_EINVALID,
				     "byte_fallback is set but only %zu of the 256 byte "
				     "pieces <0x00>..<0xFF> are there",
				     n);
	return 0;
}

int spm_model_parse(struct spm_model *out, const void *data, size_t size, struct fmt_error *err)
{
	struct parse ps = { out, err, 0, 0, size + 1, { 0 } };
	struct pb b = { data, data, (const unsigned char *)data + size };
	struct pb_field f;
	int rc;
	memset(out, 0, sizeof(*out));
	out->model_type = SPM_MODEL_UNIGRAM;
	out->unk_id = 0;
	out->bos_id = 1;
	out->eos_id = 2;
	out->pad_id = -1;
	out->add_dummy_prefix = out->remove_extra_whitespaces = out->escape_whitespaces = 1;
	fmt_nameset_init(&ps.names);
	if (!(out->storage = malloc(ps.storage_cap))) {
		rc = fmt_error_oom(err);
		goto out;
	}
	while ((rc = next_field(&b, &f, err)) == 1) {
		if (f.number >= 1 && f.number <= 3 &&
		    (rc = expect_wire(&f, WIRE_BYTES,
				      f.number == 1   ? "pieces"
				      : f.number == 2 ? "trainer_spec"
						      : "normalizer_spec",
				      err)))
			break;
		if (f.number == 1)
			rc = parse_piece(&ps, &b, &f);
		else if (f.number == 2)
			rc = parse_trainer_spec(&ps, &b, &f);
		else if (f.number == 3)
			rc = parse_normalizer_spec(&ps, &b, &f);
		if (rc < 0)
			break;
	}
	if (rc)
		goto out;
	if (!out->count) {
		rc = fmt_error_set(err, FMT_EINVALID, "no pieces (not a SentencePiece model)");
		goto out;
	}
	if ((rc = check_id(out, out->unk_id, "unk_id", err)) ||
	    (rc = check_id(out, out->bos_id, "bos_id", err)) ||
	    (rc = check_id(out, out->eos_id, "eos_id", err)) ||
	    (rc = check_id(out, out->pad_id, "pad_id", err)))
		goto out;
	rc = check_bytes(out, err);
out:
	fmt_nameset_free(&ps.names);
	if (rc)
		spm_model_free(out);
	return rc;
}

void spm_model_free(struct spm_model *m)
{
	free(m->pieces);
	free(m->storage);
	memset(m, 0, sizeof(*m));
}
