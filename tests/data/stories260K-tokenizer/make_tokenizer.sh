#!/bin/sh
# Regenerates the stand-in tokenizer of tests/data/stories260K (see tests/data/SOURCE.md):
# a 512-piece SentencePiece BPE model with byte fallback, trained with Debian's
# sentencepiece (spm_train) on the text make_text.py writes, with the identity normalizer
# and no merging of spaces, as in Llama 2's tokenizer (llama.cpp applies neither). Deterministic: one thread,
# no sampling, no shuffling. Usage: sh tests/data/stories260K-tokenizer/make_tokenizer.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../stories260K"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_text.py" >"$work/text.txt"
# Relative paths: the trainer records them in the model, which must not depend on $work.
cd "$work"
spm_train --input=text.txt --model_prefix=tokenizer --model_type=bpe \
	--vocab_size=512 --byte_fallback=true --character_coverage=1.0 \
	--normalization_rule_name=identity --remove_extra_whitespaces=false --split_digits=true \
	--unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
	--num_threads=1 --input_sentence_size=0 --shuffle_input_sentence=false \
	--max_sentence_length=4096 --minloglevel=2 >/dev/null
cp tokenizer.model "$out/tokenizer.model"
echo "wrote $out/tokenizer.model ($(wc -c <"$out/tokenizer.model") bytes)"
