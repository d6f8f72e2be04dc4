/* Duplicate keys in a cJSON tree. cJSON keeps every member of an object, so that two
 * members with one key parse without complaint, and which of the two a reader then takes
 * depends on the reader: the strict readers refuse them. */
#ifndef MODL_JSON_KEYS_H
#define MODL_JSON_KEYS_H

#include <cjson/cJSON.h>

/* 0 when no object of the tree holds a key twice; 1 with the object (*object) and the
 * repeated key (*key) of the first one found; FMT_ENOMEM. Each object's keys are sorted,
 * so that the check takes O(n log n) in its members whatever the keys are (a pairwise
 * check took 50 s for 80k keys; a hash set can be flooded with keys made to collide).
 * Recursive: the tree's depth must be bounded already (json_scan bounds it). */
int json_duplicate_key(const cJSON *node, const cJSON **object, const char **key);

#endif
