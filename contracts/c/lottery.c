/* A lottery drawn from the randomness beacon (keel_randomness; fairness: docs/DESIGN.md).
 *
 * Ticket sales close at block `close` (fixed when the lottery opens); the winner is drawn from
 * the beacon value of block close + 1. That value is H(VDF(seed of block close)): its input
 * exists only once the last block of sales is committed, and it is final (readable) only `lag`
 * blocks after close + 1, so nobody who can still buy a ticket or shape a sales block knows it.
 *
 * Entry points (every input must have exactly the listed length, else the call aborts):
 *   open    in: close(u64 LE)   starts the lottery; only once; close must not be in the past
 *   buy     in: -               out: ticket(u32 LE)   one ticket for the caller, while
 *                                                     block_height <= close
 *   draw    in: -               out: ticket(u32 LE) winner(32)   once the beacon of close + 1
 *                                    is final: ticket = (first 8 bytes of it, u64 LE) mod tickets;
 *                                    only once; emits event "winner" with the same bytes
 *   winner  in: -               out: ticket(u32 LE) winner(32) beacon(32)
 * The modulo's bias is below tickets / 2^64. Every refusal aborts with a message.
 *
 * Storage: "close" -> u64 LE; "count" -> u32 LE; "t"||ticket(u32 LE) -> buyer(32);
 *          "winner" -> ticket(4) buyer(32) beacon(32).
 */
#include "keel_runtime.h"

KEEL_MANIFEST("\x01\x01\x02\x09"); /* own storage, events, crypto (the beacon) */

#define MAX_TICKETS 1000000u

static uint64_t close_height(void) {
    uint8_t v[8];
    if (keel_storage_read("close", 5, v, 8) != 8) KEEL_FAIL("lottery: not open");
    return keel_load_u64_le(v);
}

static uint32_t ticket_count(void) {
    uint8_t v[4] = {0};
    keel_storage_read("count", 5, v, 4);
    return keel_load_u32_le(v);
}

static void ticket_key(uint8_t key[5], uint32_t ticket) {
    key[0] = 't';
    keel_store_u32_le(key + 1, ticket);
}

KEEL_EXPORT("open") void open(void) {
    uint8_t close[8];
    keel_input_exact(close, 8);
    uint8_t probe[1];
    if (keel_storage_read("close", 5, probe, 0) >= 0) KEEL_FAIL("lottery: already open");
    uint64_t c = keel_load_u64_le(close);
    if (c < (uint64_t)keel_block_height()) KEEL_FAIL("lottery: close height is in the past");
    if (c == UINT64_MAX) KEEL_FAIL("lottery: close height has no next block");
    keel_storage_write("close", 5, close, 8);
}

KEEL_EXPORT("buy") void buy(void) {
    keel_input_exact(0, 0);
    if ((uint64_t)keel_block_height() > close_height()) KEEL_FAIL("lottery: sales are closed");
    uint32_t n = ticket_count();
    if (n >= MAX_TICKETS) KEEL_FAIL("lottery: sold out");
    keel_address buyer;
    keel_caller(&buyer);
    uint8_t key[5];
    ticket_key(key, n);
    keel_storage_write(key, 5, buyer.b, 32);
    uint8_t v[4];
    keel_store_u32_le(v, n + 1);
    keel_storage_write("count", 5, v, 4);
    keel_store_u32_le(v, n);
    keel_return_data(v, 4);
}

KEEL_EXPORT("draw") void draw(void) {
    keel_input_exact(0, 0);
    uint8_t probe[1];
    if (keel_storage_read("winner", 6, probe, 0) >= 0) KEEL_FAIL("lottery: already drawn");
    uint8_t record[4 + 32 + 32];
    uint8_t *beacon = record + 36;
    if (keel_randomness(close_height() + 1, beacon) != 0)
        KEEL_FAIL("lottery: the beacon of the draw height is not final yet");
    uint32_t n = ticket_count();
    if (n == 0) KEEL_FAIL("lottery: no tickets");
    uint32_t ticket = (uint32_t)(keel_load_u64_le(beacon) % n);
    uint8_t key[5];
    ticket_key(key, ticket);
    if (keel_storage_read(key, 5, record + 4, 32) != 32) KEEL_FAIL("lottery: ticket missing");
    keel_store_u32_le(record, ticket);
    keel_storage_write("winner", 6, record, sizeof(record));
    keel_emit_event("winner", 6, record, 36);
    keel_return_data(record, 36);
}

KEEL_EXPORT("winner") void winner(void) {
    keel_input_exact(0, 0);
    uint8_t record[4 + 32 + 32];
    if (keel_storage_read("winner", 6, record, sizeof(record)) != (int32_t)sizeof(record))
        KEEL_FAIL("lottery: not drawn yet");
    keel_return_data(record, sizeof(record));
}
