/* An open-addressing hash set of names, for duplicate checks and lookups in O(1):
 * a GGUF or safetensors file may have tens of thousands of tensors, and a quadratic
 * duplicate check would make opening a crafted file slow. */
#include "fmt.h"

#include <stdlib.h>
#include <string.h>

struct fmt_nameset_slot {
	const char *name; /* NULL: empty slot */
	size_t len;
	size_t value;
	uint64_t hash;
};

static uint64_t name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void fmt_nameset_init(struct fmt_nameset *set)
{
	set->slots = NULL;
	set->cap = set->count = 0;
}

static struct fmt_nameset_slot *find_slot(struct fmt_nameset_slot *slots, size_t cap, const char *name,
					  size_t len, uint64_t hash)
{
	size_t i = (size_t)hash & (cap - 1);
	for (;;) {
		struct fmt_nameset_slot *s = &slots[i];
		if (!s->name || (s->hash == hash && s->len == len && !memcmp(s->name, name, len)))
			return s;
		i = (i + 1) & (cap - 1);
	}
}

static int grow(struct fmt_nameset *set)
{
	size_t cap = set->cap ? set->cap * 2 : 64;
	if (cap > SIZE_MAX / sizeof(struct fmt_nameset_slot))
		return FMT_ENOMEM;
	struct fmt_nameset_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return FMT_ENOMEM;
	for (size_t i = 0; i < set->cap; i++) {
		struct fmt_nameset_slot *s = &set->slots[i];
		if (s->name)
			*find_slot(slots, cap, s->name, s->len, s->hash) = *s;
	}
	free(set->slots);
	set->slots = slots;
	set->cap = cap;
	return 0;
}

int fmt_nameset_add(struct fmt_nameset *set, const char *name, size_t len, size_t value, size_t *existing)
{
	if (!name)
		name = "";
	/* Keep the load under one half so that probe sequences stay short. */
	if ((set->count + 1) * 2 > set->cap && grow(set))
		return FMT_ENOMEM;
	uint64_t hash = name_hash(name, len);
	struct fmt_nameset_slot *s = find_slot(set->slots, set->cap, name, len, hash);
	if (s->name) {
		if (existing)
			*existing = s->value;
		return 0;
	}
	s->name = name;
	s->len = len;
	s->value = value;
	s->hash = hash;
	set->count++;
	return 1;
}

int fmt_nameset_find(const struct fmt_nameset *set, const char *name, size_t len, size_t *value)
{
	if (!set->cap)
		return 0;
	if (!name)
		name = "";
	struct fmt_nameset_slot *s = find_slot(set->slots, set->cap, name, len, name_hash(name, len));
	if (!s->name)
		return 0;
	if (value)
		*value = s->value;
	return 1;
}

void fmt_nameset_free(struct fmt_nameset *set)
{
	free(set->slots);
	fmt_nameset_init(set);
}
