/* A strict reader of SentencePiece's tokenizer.model (doc/gguf.md §4): the protobuf
 * ModelProto that Llama 1/2, Mistral and TinyLlama ship. Only what a GGUF vocabulary
 * needs is kept: the pieces (text, score, type), the trainer's special ids, byte
 * fallback and model type, and the normalizer's flags.
 *
 * The protobuf decoding is minimal but complete for the wire format: varints (at most
 * ten bytes), 64- and 32-bit fixed fields and length-delimited fields are read and
 * checked against the buffer, unknown fields of those kinds are skipped, groups (wire
 * types 3 and 4, which SentencePiece never writes) are refused. Every piece must be
 * non-empty UTF-8, unique, with a finite score and a known type; the special ids must
 * name pieces or be -1. */
#ifndef MODL_SPM_MODEL_H
#define MODL_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define SPM_MODEL_MAX_PIECES (1u << 24) /* far above any published vocabulary */

/* ModelProto.SentencePiece.Type; GGUF's token types use the same numbers. */
enum spm_piece_type {
	SPM_PIECE_NORMAL = 1,
	SPM_PIECE_UNKNOWN = 2,
	SPM_PIECE_CONTROL = 3,
	SPM_PIECE_USER_DEFINED = 4,
	SPM_PIECE_UNUSED = 5,
	SPM_PIECE_BYTE = 6,
};

/* TrainerSpec.ModelType. */
enum spm_model_type {
	SPM_MODEL_UNIGRAM = 1,
	SPM_MODEL_BPE = 2,
	SPM_MODEL_WORD = 3,
	SPM_MODEL_CHAR = 4,
};

struct spm_piece {
	const char *text; /* NUL-terminated copy (pieces hold no NUL: checked) */
	size_t len;
	float score;
	int type; /* enum spm_piece_type */
};

struct spm_model {
	struct spm_piece *pieces;
	size_t count;
	int model_type;              /* enum spm_model_type (UNIGRAM when absent, as in the proto) */
	uint32_t trainer_vocab_size; /* 0 when absent */
	int32_t unk_id, bos_id, eos_id, pad_id; /* -1: none; defaults 0, 1, 2, -1 */
	int byte_fallback;
	int add_dummy_prefix;         /* normalizer_spec; default true */
	int remove_extra_whitespaces; /* default true */
	int escape_whitespaces;       /* default true */
	char *storage;                /* the piece texts */
};

/* Parses size bytes. FMT_EINVALID with where and what in err. */
int spm_model_parse(struct spm_model *out, const void *data, size_t size, struct fmt_error *err);
void spm_model_free(struct spm_model *m);

#endif
