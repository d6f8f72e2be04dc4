/* modl inspect FILE: the header of a GGUF or safetensors file. */
#include <stdio.h>

#include "args.h"
#include "util/error.h"
#include "inspect/inspect.h"
#include "inspect_render.h"
#include "output.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl inspect FILE [--tensors] [--json]\n"
	"\n"
	"Show what the header of a GGUF or safetensors file says, reading the header only.\n"
	"GGUF: version, alignment, every metadata key with its type and value, and the\n"
	"tensor count and bytes per type. safetensors (a file, a directory, or a sharded\n"
	"model.safetensors.index.json): __metadata__, dtypes and parameter count.\n"
	"The file is checked strictly; a malformed one exits 8 saying what is wrong where.\n"
	"\n"
	"  --tensors  also list each tensor: name, type, shape, offset and size\n"
	"  --json     print one JSON document (arrays and strings complete, every tensor)\n";

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	int tensors = 0, n, rc;
	/* clang-format off */
	const struct args_option options[] = {
		{ "tensors", 0, ARGS_FLAG, &tensors, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct inspect_report *report = NULL;
	struct strbuf text = STRBUF_INIT;
	if ((rc = args_parse("inspect", options, argc, argv, &n)))
		return rc;
	if (n != 1)
		return modl_error_set(MODL_EUSAGE, "inspect: expected one FILE (see 'modl help inspect')");
	if ((rc = inspect_open(&report, argv[0])))
		return rc;
	if (ctx->json) {
		rc = output_json(inspect_to_json(report, 1)); /* doc/cli.md: --json lists every tensor */
	} else if (!(rc = inspect_to_text(report, tensors, &text))) {
		if (fwrite(text.buf, 1, text.len, stdout) != text.len || fflush(stdout))
			rc = modl_error_set(MODL_EFAIL, "cannot write to standard output");
	}
	strbuf_free(&text);
	inspect_close(report);
	return rc;
}

const struct modl_command cmd_inspect = { "inspect", "show the header of a GGUF or safetensors file", usage,
					  run };
