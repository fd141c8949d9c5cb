/* Unsafe: reads in[in_len], one byte past the input. */
#include "keel_routine.h"

KEEL_ROUTINE(oob_by_one)
{
    (void)out_len;
    out[0] = in[in_len];
    return KEEL_OK;
}

#define KEEL_BODY oob_by_one
#include "keel_entry.h"
