/* Benchmark kernel: a CoreMark-like integer workload (not EEMBC CoreMark; same kinds of work).
 *
 * Entry point:
 *   coremark  in: iterations(u32 LE, exactly 4 bytes)  out: crc(u16 LE, 2 bytes)
 * Each iteration k runs, in order, and folds its results into one running CRC-16/ARC
 * (reflected polynomial 0xA001, initial value 0):
 *   1. list:   4 searches with move-to-front, a reversal and a merge sort of a 32-node linked
 *              list (index-linked), then a pass that rewrites every value;
 *   2. matrix: a bounded add-constant on A, C = A x B + A (12x12, i16 inputs, u32 accumulation),
 *              a sum and a bit-field extraction over C, then B fed back from C (transposed);
 *   3. text:   a one-byte mutation of a comma-separated string, then a number-recognising state
 *              machine over it that counts the final state of each token and the transitions.
 * All arithmetic is unsigned or provably in range, so there is no undefined or
 * implementation-defined behaviour: src/reference/coremark.rs ports it bit for bit.
 */
#include "keel_runtime.h"

#define LIST_LEN 32
#define NIL 0xFF
#define MAT_N 12
#define SEED 0x4B45454Cu /* "KEEL" */

typedef struct {
    uint16_t value;
    uint16_t id;
    uint8_t next;
} list_node;

static list_node nodes[LIST_LEN];
static uint8_t head;
static int16_t mat_a[MAT_N][MAT_N];
static int16_t mat_b[MAT_N][MAT_N];
static uint32_t mat_c[MAT_N][MAT_N];

static const char TEXT_INIT[] = "5012,1.25,-190,+3.14e-5,0x1F,abc,7e2,.5,-0.001,42,9E+9,--1,3.,e5,1e,88,6.02E23,-.7";
#define TEXT_LEN ((uint32_t)(sizeof(TEXT_INIT) - 1))
static uint8_t text[sizeof(TEXT_INIT) - 1];
static const char ALPHABET[] = "0123456789+-.eE,x";
#define ALPHABET_LEN ((uint32_t)(sizeof(ALPHABET) - 1))

enum { S_START, S_SIGN, S_INT, S_FRAC, S_EXP_MARK, S_EXP_SIGN, S_EXP_DIGITS, S_INVALID, S_COUNT };

static uint16_t crc_u8(uint8_t data, uint16_t crc) {
    for (int i = 0; i < 8; i++) {
        uint16_t mix = (uint16_t)((crc ^ data) & 1u);
        crc >>= 1;
        data >>= 1;
        if (mix) crc ^= 0xA001u;
    }
    return crc;
}

static uint16_t crc_u16(uint16_t v, uint16_t crc) { return crc_u8((uint8_t)(v >> 8), crc_u8((uint8_t)v, crc)); }

static uint16_t crc_u32(uint32_t v, uint16_t crc) { return crc_u16((uint16_t)(v >> 16), crc_u16((uint16_t)v, crc)); }

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void init_state(void) {
    uint32_t s = SEED;
    for (uint32_t i = 0; i < LIST_LEN; i++) {
        nodes[i].value = (uint16_t)lcg(&s);
        nodes[i].id = (uint16_t)i;
        nodes[i].next = i + 1 < LIST_LEN ? (uint8_t)(i + 1) : NIL;
    }
    head = 0;
    for (uint32_t i = 0; i < MAT_N; i++) {
        for (uint32_t j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (int16_t)((int32_t)(lcg(&s) & 0xFFu) - 128);
            mat_b[i][j] = (int16_t)((int32_t)(lcg(&s) & 0xFFu) - 128);
        }
    }
    for (uint32_t i = 0; i < TEXT_LEN; i++) text[i] = (uint8_t)TEXT_INIT[i];
}

/* Finds the first node whose low 4 value bits equal key and moves it to the front. Returns
 * (position << 8) | id, or 0xFFFF when no node matches. */
static uint16_t find_move_front(uint8_t key) {
    uint8_t prev = NIL;
    uint16_t pos = 0;
    for (uint8_t n = head; n != NIL; prev = n, n = nodes[n].next, pos++) {
        if ((nodes[n].value & 0x0Fu) == key) {
            if (prev != NIL) {
                nodes[prev].next = nodes[n].next;
                nodes[n].next = head;
                head = n;
            }
            return (uint16_t)((pos << 8) | nodes[n].id);
        }
    }
    return 0xFFFFu;
}

static void reverse(void) {
    uint8_t prev = NIL;
    uint8_t n = head;
    while (n != NIL) {
        uint8_t next = nodes[n].next;
        nodes[n].next = prev;
        prev = n;
        n = next;
    }
    head = prev;
}

/* Bottom-up merge sort of the linked list by value (stable: ties keep their order). */
static void sort_by_value(void) {
    for (uint32_t width = 1;; width *= 2) {
        uint8_t p = head, tail = NIL;
        uint32_t merges = 0;
        head = NIL;
        while (p != NIL) {
            merges++;
            uint8_t q = p;
            uint32_t psize = 0;
            while (psize < width && q != NIL) {
                psize++;
                q = nodes[q].next;
            }
            uint32_t qsize = width;
            while (psize > 0 || (qsize > 0 && q != NIL)) {
                uint8_t e;
                if (psize > 0 && (qsize == 0 || q == NIL || nodes[p].value <= nodes[q].value)) {
                    e = p;
                    p = nodes[p].next;
                    psize--;
                } else {
                    e = q;
                    q = nodes[q].next;
                    qsize--;
                }
                if (tail != NIL) {
                    nodes[tail].next = e;
                } else {
                    head = e;
                }
                tail = e;
            }
            p = q;
        }
        if (tail != NIL) nodes[tail].next = NIL;
        if (merges <= 1) return;
    }
}

static uint16_t list_step(uint32_t k, uint16_t crc) {
    for (uint32_t j = 0; j < 4; j++) {
        crc = crc_u16(find_move_front((uint8_t)((k * 7u + j * 61u) & 0x0Fu)), crc);
    }
    reverse();
    sort_by_value();
    uint16_t pos = 0;
    for (uint8_t n = head; n != NIL; n = nodes[n].next, pos++) {
        crc = crc_u16((uint16_t)(nodes[n].value ^ nodes[n].id), crc);
        nodes[n].value = (uint16_t)(nodes[n].value * 25173u + 13849u + pos);
    }
    return crc;
}

static uint16_t matrix_step(uint32_t k, uint16_t crc) {
    int32_t add = (int32_t)(k & 0x7Fu);
    for (uint32_t i = 0; i < MAT_N; i++) {
        for (uint32_t j = 0; j < MAT_N; j++) {
            /* Stays in [-128, 127]: the sum is in [0, 382] before masking. */
            mat_a[i][j] = (int16_t)(((mat_a[i][j] + add + 128) & 0xFF) - 128);
        }
    }
    uint32_t sum = 0, bits = 0;
    for (uint32_t i = 0; i < MAT_N; i++) {
        for (uint32_t j = 0; j < MAT_N; j++) {
            uint32_t acc = (uint32_t)(int32_t)mat_a[i][j];
            for (uint32_t l = 0; l < MAT_N; l++) {
                acc += (uint32_t)((int32_t)mat_a[i][l] * (int32_t)mat_b[l][j]);
            }
            mat_c[i][j] = acc;
            sum += acc;
            bits += (acc >> 3) & 0x0Fu;
        }
    }
    crc = crc_u32(sum, crc);
    crc = crc_u16((uint16_t)bits, crc);
    for (uint32_t i = 0; i < MAT_N; i++) {
        for (uint32_t j = 0; j < MAT_N; j++) {
            mat_b[j][i] = (int16_t)((int32_t)((mat_c[i][j] >> 7) & 0xFFu) - 128);
        }
    }
    return crc;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static uint8_t next_state(uint8_t state, uint8_t c) {
    int digit = is_digit(c);
    int sign = c == '+' || c == '-';
    int exp = c == 'e' || c == 'E';
    switch (state) {
    case S_START:
        return digit ? S_INT : sign ? S_SIGN : c == '.' ? S_FRAC : S_INVALID;
    case S_SIGN:
        return digit ? S_INT : c == '.' ? S_FRAC : S_INVALID;
    case S_INT:
        return digit ? S_INT : c == '.' ? S_FRAC : exp ? S_EXP_MARK : S_INVALID;
    case S_FRAC:
        return digit ? S_FRAC : exp ? S_EXP_MARK : S_INVALID;
    case S_EXP_MARK:
        return digit ? S_EXP_DIGITS : sign ? S_EXP_SIGN : S_INVALID;
    case S_EXP_SIGN:
    case S_EXP_DIGITS:
        return digit ? S_EXP_DIGITS : S_INVALID;
    default:
        return S_INVALID;
    }
}

static uint16_t text_step(uint32_t k, uint16_t crc) {
    uint32_t at = (k * 17u + 5u) % TEXT_LEN;
    text[at] = (uint8_t)ALPHABET[(k + text[at]) % ALPHABET_LEN];
    uint16_t counts[S_COUNT];
    for (uint32_t s = 0; s < S_COUNT; s++) counts[s] = 0;
    uint32_t transitions = 0;
    uint8_t state = S_START;
    for (uint32_t i = 0; i < TEXT_LEN; i++) {
        uint8_t c = text[i];
        if (c == ',') {
            counts[state]++;
            state = S_START;
            continue;
        }
        uint8_t next = next_state(state, c);
        if (next != state) transitions++;
        state = next;
    }
    counts[state]++;
    for (uint32_t s = 0; s < S_COUNT; s++) crc = crc_u16(counts[s], crc);
    return crc_u32(transitions, crc);
}

KEEL_EXPORT("coremark") void coremark(void) {
    uint8_t in[4];
    keel_input_exact(in, 4);
    uint32_t iterations = keel_load_u32_le(in);
    init_state();
    uint16_t crc = 0;
    for (uint32_t k = 0; k < iterations; k++) {
        crc = list_step(k, crc);
        crc = matrix_step(k, crc);
        crc = text_step(k, crc);
    }
    uint8_t out[2] = {(uint8_t)crc, (uint8_t)(crc >> 8)};
    keel_return_data(out, 2);
}
