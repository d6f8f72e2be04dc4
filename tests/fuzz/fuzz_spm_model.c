/* libFuzzer target: the tokenizer.model (SentencePiece protobuf) reader must refuse any
 * malformed input cleanly, and what it accepts must keep its promises: pieces non-empty,
 * unique, NUL-free, of a known type with a finite score, special ids -1 or a piece. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/spm_model.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spm_model m;
	struct fmt_error err;
	if (spm_model_parse(&m, data, size, &err))
		return 0;
	check(m.count >= 1 && m.count <= SPM_MODEL_MAX_PIECES);
	for (size_t i = 0; i < m.count; i++) {
		const struct spm_piece *p = &m.pieces[i];
		check(p->len > 0 && strlen(p->text) == p->len);
		check(p->type >= SPM_PIECE_NORMAL && p->type <= SPM_PIECE_BYTE);
		check(isfinite(p->score));
		if (i)
			check(p->len != m.pieces[i - 1].len || memcmp(p->text, m.pieces[i - 1].text, p->len));
	}
	const int32_t ids[] = { m.unk_id, m.bos_id, m.eos_id, m.pad_id };
	for (size_t i = 0; i < 4; i++)
		check(ids[i] == -1 || (ids[i] >= 0 && (size_t)ids[i] < m.count));
	spm_model_free(&m);
	return 0;
}
