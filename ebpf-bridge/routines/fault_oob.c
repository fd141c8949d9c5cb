/* Test-only routine `fault_oob`: reads one byte past the end of its input; must end as an
 * access violation. */
#include "keel_routine.h"

KEEL_ROUTINE(fault_oob_routine)
{
    volatile const u8 *p = in;
    if (out_len < 1)
        return KEEL_ERR_OUTPUT_LEN;
    out[0] = p[in_len];
    return KEEL_OK;
}

#define KEEL_BODY fault_oob_routine
#include "keel_entry.h"
