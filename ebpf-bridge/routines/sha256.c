/* Routine `sha256`: out[0..32] = sha256(in[0..in_len]), in_len <= 4096. */
#include "sha256.h"

KEEL_ROUTINE(sha256_routine)
{
    if (in_len > SHA256_MAX_INPUT)
        return KEEL_ERR_INPUT_LEN;
    if (out_len != 32)
        return KEEL_ERR_OUTPUT_LEN;
    sha256(in, in_len, out);
    return KEEL_OK;
}

#define KEEL_BODY sha256_routine
#include "keel_entry.h"
