/* Common includes for the cmocka unit tests (one program per tests/unit/test_*.c). */
#ifndef MODL_UNIT_H
#define MODL_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
