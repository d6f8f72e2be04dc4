/* A strict reader of Hugging Face's tokenizer.json (the `tokenizers` library's
 * serialization), for the vocabularies a GGUF can carry (doc/gguf.md §4): BPE models, either
 * byte-level (Llama 3, GPT-2 style: tokens like "Ġthe") or SentencePiece-style with byte
 * fallback (Llama 2's tokenizer.json: "▁the", "<0x0A>").
 *
 * What is kept: the model's type, flags and unknown token; model.vocab indexed by id;
 * model.merges in GGUF's form ("a b", whichever of the two JSON forms the file uses:
 * strings, or [a, b] pairs since transformers 4.45, where a space inside a part becomes
 * U+0120 as gguf-py writes it, llama.cpp#9692); added_tokens; and the normalizer,
 * pre_tokenizer and decoder as flat lists of components (Sequences unfolded), and the
 * post_processor's template, which is all the converter needs to choose
 * tokenizer.ggml.pre and the special-token flags.
 *
 * Checked as the tokenizers library checks when it loads a file: the text is UTF-8 JSON
 * (serde_json's strictness), keys are not repeated, every vocab id is unique, every
 * token unique, every merge names two tokens of the vocabulary whose concatenation is
 * also one (MergeTokenOutOfVocabulary), every added token has an id and a content. */
#ifndef MODL_TOKENIZER_JSON_H
#define MODL_TOKENIZER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define TOKENIZER_JSON_MAX_ID ((1u << 24) - 1) /* ids above this are refused */
#define TOKENIZER_JSON_MAX_COMPONENTS 32       /* per normalizer / pre_tokenizer / decoder */

struct tokenizer_json_added_token {
	char *content;
	size_t len;
	uint32_t id;
	int special;    /* 0 or 1 */
	int normalized; /* 0 or 1; -1 when absent */
};

/* One normalizer, pre-tokenizer or decoder. Flags are -1 when the file does not set
 * them; strings NULL. */
struct tokenizer_json_component {
	char *type;    /* "Split", "ByteLevel", "Digits", "Metaspace", "Prepend", ... */
	char *pattern; /* Split, Replace: the pattern's text */
	size_t pattern_len;
	int pattern_is_regex; /* {"Regex": ...} rather than {"String": ...} */
	char *content;        /* Replace: content; Prepend: prepend; Metaspace: replacement */
	size_t content_len;
	char *behavior;       /* Split: "Isolated", "Removed", ... */
	char *prepend_scheme; /* Metaspace: "first", "always", "never" */
	int invert, add_prefix_space, trim_offsets, use_regex, individual_digits, split;
};

struct tokenizer_json_stage {
	int present; /* the key is there and not null */
	size_t count;
	struct tokenizer_json_component items[TOKENIZER_JSON_MAX_COMPONENTS];
};

struct tokenizer_json {
	char *model_type;                           /* "BPE", "Unigram", "WordPiece", "WordLevel" */
	int byte_fallback, ignore_merges, fuse_unk; /* 0 when absent */
	char *unk_token;                            /* NULL when absent or null */
	int has_subword_affixes;                    /* continuing_subword_prefix or end_of_word_suffix set */
	/* model.vocab by id: vocab[i] is NULL for an id no token has. */
	uint32_t vocab_size; /* 1 + the largest id in model.vocab (0 when empty) */
	char **vocab;
	size_t *vocab_len;
	size_t vocab_count; /* tokens in model.vocab */
	/* model.merges in GGUF form, in rank order. */
	char **merges;
	size_t merge_count;
	int merges_as_pairs;
	struct tokenizer_json_added_token *added;
	size_t added_count;
	struct tokenizer_json_stage normalizer, pre_tokenizer, decoder;
	/* post_processor: its type ("TemplateProcessing", "ByteLevel", "Sequence", ...), and
	 * the ids of the special tokens the single-sequence template starts and ends with
	 * (NULL when it starts or ends with the sequence itself). In a Sequence, the first
	 * TemplateProcessing counts. */
	char *post_processor_type;
	int has_template;
	int template_length; /* items in the single template */
	char *template_first, *template_last;
	int roberta_processing;
	struct fmt_nameset index; /* model.vocab: token -> id (private) */
};

/* Parses len bytes of tokenizer.json. FMT_EINVALID with the place and the problem. */
int tokenizer_json_parse(struct tokenizer_json *out, const char *text, size_t len, struct fmt_error *err);
void tokenizer_json_free(struct tokenizer_json *t);

/* The id of a token of model.vocab, or -1. */
long tokenizer_json_find(const struct tokenizer_json *t, const char *token, size_t len);

/* A canonical one-line description of the normalizer and pre_tokenizer, the key of the
 * converter's tokenizer.ggml.pre table, e.g.
 *   normalizer=none pre=Split(Regex "...", Isolated)+ByteLevel(prefix=0, regex=0)
 * Written NUL-terminated to out (malloc'd). FMT_ENOMEM. */
int tokenizer_json_pre_signature(const struct tokenizer_json *t, char **out);

#endif
