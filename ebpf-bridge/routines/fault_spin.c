/* Test-only routine `fault_spin`: never returns (it keeps writing out[0]); must end as
 * "budget exhausted". Not built for the kernel, whose verifier rejects unbounded loops. */
#include "keel_routine.h"

KEEL_ROUTINE(fault_spin_routine)
{
    volatile u8 *o = out;
    (void)in;
    (void)in_len;
    (void)out_len;
    for (;;)
        o[0] = (u8)(o[0] + 1);
    return KEEL_OK;
}

#define KEEL_BODY fault_spin_routine
#include "keel_entry.h"
