/* Layouts shared by admission.bpf.c and the Rust loader (src/admission/maps.rs mirrors them).
 * Every field is fixed-width and explicitly padded so the two sides agree byte for byte. */
#ifndef KEEL_ADMISSION_H
#define KEEL_ADMISSION_H

#include <linux/types.h>

/* adm_params[0]. port_be == 0 means "not configured": every packet passes. */
struct adm_params {
	__u16 port_be;    /* the appliance's TCP port, network byte order */
	__u16 flags;      /* ADM_F_* */
	__u32 rate_pps;   /* token refill, packets per second per source */
	__u32 burst;      /* bucket capacity, packets */
	__u32 _pad;
};

#define ADM_F_ALLOWLIST 0x1 /* drop sources outside allow_v4/allow_v6 */
#define ADM_F_RATELIMIT 0x2 /* per-source token bucket */

/* LPM trie keys: prefixlen first, address bytes in network order. */
struct allow_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct allow_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* adm_buckets key: IPv4 addresses use the first 4 bytes of addr, the rest zero. */
struct src_key {
	__u8 family; /* 4 or 6 */
	__u8 _pad[3];
	__u8 addr[16];
};

/* One token == NSEC_PER_SEC units, so refill is elapsed_ns * rate without division. */
struct bucket {
	__u64 tokens;
	__u64 last_ns;
	__u64 passed;
	__u64 dropped;
};

/* Indices of adm_drops (per-CPU u64). */
#define CNT_PASSED 0          /* packets to the port that were admitted */
#define CNT_NOT_ALLOWLISTED 1 /* dropped: source outside the allowlist */
#define CNT_RATE_LIMITED 2    /* dropped: source's bucket empty */
#define CNT_MAX 3

#endif
