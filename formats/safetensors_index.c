/* model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {tensor:
 * shard file}}. Strict: valid UTF-8 JSON, no duplicate keys, every shard a plain file
 * name in the index's own directory (a hostile index must not reach other files). */
#include "safetensors_internal.h"
#include "json_scan.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void safetensors_index_free(struct safetensors_index *index)
{
	for (size_t i = 0; i < index->count; i++) {
		free(index->names[i]);
		free(index->shards[i]);
	}
	free(index->names);
	free(index->shards);
	memset(index, 0, sizeof(*index));
}

static int duplicate_keys(const cJSON *object, struct fmt_error *err, const char *where)
{
	struct fmt_nameset keys;
	int rc = 0;
	fmt_nameset_init(&keys);
	for (const cJSON *c = object->child; c; c = c->next) {
		int added = fmt_nameset_add(&keys, c->string, strlen(c->string), 0, NULL);
		if (added <= 0) {
			rc = added < 0 ? fmt_error_oom(err)
				       : fmt_error_set(err, FMT_EINVALID, "duplicate key '%s' in %s",
						       c->string, where);
			break;
		}
	}
	fmt_nameset_free(&keys);
	return rc;
}

static int plain_file_name(const char *name)
{
	return name[0] && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/') &&
	       !strchr(name, '\\');
}

static int read_metadata(struct safetensors_index *index, const cJSON *meta, struct fmt_error *err)
{
	int rc;
	if (!meta || cJSON_IsNull(meta))
		return 0;
	if (!cJSON_IsObject(meta))
		return fmt_error_set(err, FMT_EINVALID, "index: \"metadata\" must be an object");
	if ((rc = duplicate_keys(meta, err, "the index's metadata")))
		return rc;
	const cJSON *total = cJSON_GetObjectItemCaseSensitive(meta, "total_size");
	if (!total || cJSON_IsNull(total))
		return 0;
	/* An integer: as a double it is exact up to 2^53 bytes (9 PB). */
	double v = cJSON_IsNumber(total) ? total->valuedouble : -1;
	if (v < 0 || v > 9007199254740992.0 || v != (double)(uint64_t)v)
		return fmt_error_set(err, FMT_EINVALID,
				     "index: metadata.total_size must be a non-negative integer");
	index->has_total_size = 1;
	index->total_size = (uint64_t)v;
	return 0;
}

int safetensors_index_parse(struct safetensors_index *index, const char *text, size_t len,
			    struct fmt_error *err)
{
	struct json_scan s;
	cJSON *doc = NULL;
	size_t bad;
	int rc = 0;
	memset(index, 0, sizeof(*index));
	if (fmt_utf8_check(text, len, &bad)) {
		rc = fmt_error_set(err, FMT_EINVALID, "index is not valid UTF-8 (offset %zu)", bad);
		goto out;
	}
	json_scan_init(&s, text, len);
	if (json_scan_validate(&s)) {
		rc = fmt_error_set(err, FMT_EINVALID, "index is not valid JSON at offset %zu: %s",
				   s.error_pos, s.error);
		goto out;
	}
	if (!(doc = cJSON_ParseWithLength(text, len))) {
		rc = fmt_error_oom(err);
		goto out;
	}
	if (!cJSON_IsObject(doc)) {
		rc = fmt_error_set(err, FMT_EINVALID, "index is not a JSON object");
		goto out;
	}
	if ((rc = duplicate_keys(doc, err, "the index")) ||
	    (rc = read_metadata(index, cJSON_GetObjectItemCaseSensitive(doc, "metadata"), err)))
		goto out;
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(doc, "weight_map");
	if (!cJSON_IsObject(map)) {
		rc = fmt_error_set(err, FMT_EINVALID, "index has no \"weight_map\" object");
		goto out;
	}
	if ((rc = duplicate_keys(map, err, "weight_map")))
		goto out;
	size_t n = (size_t)cJSON_GetArraySize(map);
	index->names = calloc(n ? n : 1, sizeof(char *));
	index->shards = calloc(n ? n : 1, sizeof(char *));
	if (!index->names || !index->shards) {
		rc = fmt_error_oom(err);
		goto out;
	}
	for (const cJSON *e = map->child; e; e = e->next) {
		if (!cJSON_IsString(e)) {
			rc = fmt_error_set(err, FMT_EINVALID, "weight_map['%s'] must be a file name string",
					   e->string);
			goto out;
		}
		if (!plain_file_name(e->valuestring)) {
			rc = fmt_error_set(
				err, FMT_EINVALID,
				"weight_map['%s'] = '%s' is not a plain file name in the index's directory",
				e->string, e->valuestring);
			goto out;
		}
		index->names[index->count] = strdup(e->string);
		index->shards[index->count] = strdup(e->valuestring);
		index->count++;
		if (!index->names[index->count - 1] || !index->shards[index->count - 1]) {
			rc = fmt_error_oom(err);
			goto out;
		}
	}
out:
	cJSON_Delete(doc);
	if (rc)
		safetensors_index_free(index);
	return rc;
}
