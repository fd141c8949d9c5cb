// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Admission control for the appliance's TCP port, before userspace.
 *
 * Two attach points share one decision (admit()): XDP on the ingress interface and cgroup_skb
 * ingress where XDP is not available. Packets that are not TCP to the configured port pass
 * untouched. Non-first IP fragments pass too: they carry no TCP header, and the first fragment
 * (which does) is judged, so a dropped first fragment makes reassembly fail anyway. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "admission.h"

#define NSEC_PER_SEC 1000000000ULL
/* Past this idle time a bucket is full whatever the rate: also bounds elapsed * rate < 2^64. */
#define MAX_REFILL_NS (100ULL * NSEC_PER_SEC)
/* IPv6 extension headers walked before giving up (and passing: no port was found). */
#define MAX_EXT_HDRS 4

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adm_params);
} adm_params SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct allow_v4_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct allow_v6_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allow_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct src_key);
	__type(value, struct bucket);
} adm_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} adm_drops SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&adm_drops, &idx);
	if (c)
		*c += 1; /* per-CPU slot: no other writer */
}

static __always_inline int allowlisted(const struct src_key *src)
{
	if (src->family == 4) {
		struct allow_v4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, src->addr, 4);
		return bpf_map_lookup_elem(&allow_v4, &k) != NULL;
	}
	struct allow_v6_key k = { .prefixlen = 128 };
	__builtin_memcpy(k.addr, src->addr, 16);
	return bpf_map_lookup_elem(&allow_v6, &k) != NULL;
}

/* Token bucket; returns 1 when the packet may pass. Concurrent CPUs may race on tokens/last_ns
 * for one source (a few packets of slack); the per-source counters are exact (atomic adds). */
static __always_inline int take_token(const struct src_key *src, const struct adm_params *p)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 cap = (__u64)p->burst * NSEC_PER_SEC;
	struct bucket *b = bpf_map_lookup_elem(&adm_buckets, src);
	if (!b) {
		struct bucket fresh = { .last_ns = now, .passed = 1 };
		if (cap < NSEC_PER_SEC) {
			/* burst 0: nothing ever passes; keep the record so drops are attributed */
			fresh.passed = 0;
			fresh.dropped = 1;
			bpf_map_update_elem(&adm_buckets, src, &fresh, BPF_NOEXIST);
			return 0;
		}
		fresh.tokens = cap - NSEC_PER_SEC;
		/* NOEXIST: a racing CPU's insert wins; this packet passes on the fresh bucket. */
		bpf_map_update_elem(&adm_buckets, src, &fresh, BPF_NOEXIST);
		return 1;
	}
	__u64 elapsed = now > b->last_ns ? now - b->last_ns : 0;
	if (elapsed > MAX_REFILL_NS)
		elapsed = MAX_REFILL_NS;
	__u64 tokens = b->tokens + elapsed * (__u64)p->rate_pps;
	if (tokens > cap)
		tokens = cap;
	b->last_ns = now;
	if (tokens < NSEC_PER_SEC) {
		b->tokens = tokens;
		__sync_fetch_and_add(&b->dropped, 1);
		return 0;
	}
	b->tokens = tokens - NSEC_PER_SEC;
	__sync_fetch_and_add(&b->passed, 1);
	return 1;
}

/* The decision for a TCP packet from src to dport_be. Returns 1 to pass. */
static __always_inline int admit(const struct src_key *src, __u16 dport_be)
{
	__u32 zero = 0;
	struct adm_params *p = bpf_map_lookup_elem(&adm_params, &zero);
	if (!p || p->port_be == 0 || p->port_be != dport_be)
		return 1;
	if ((p->flags & ADM_F_ALLOWLIST) && !allowlisted(src)) {
		count(CNT_NOT_ALLOWLISTED);
		return 0;
	}
	if ((p->flags & ADM_F_RATELIMIT) && !take_token(src, p)) {
		count(CNT_RATE_LIMITED);
		return 0;
	}
	count(CNT_PASSED);
	return 1;
}

static __always_inline int is_ext_hdr(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT;
}

/* ---------------------------------------------------------------- XDP: direct packet access */

SEC("xdp")
int keel_admit_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct src_key src = {};
	__u8 proto;
	void *l4;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x1fff)) /* non-first fragment */
			return XDP_PASS;
		src.family = 4;
		__builtin_memcpy(src.addr, &ip->saddr, 4);
		proto = ip->protocol;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		src.family = 6;
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_EXT_HDRS; i++) {
			if (!is_ext_hdr(proto))
				break;
			__u8 *h = l4;
			if ((void *)(h + 8) > end)
				return XDP_PASS;
			if (proto == IPPROTO_FRAGMENT) {
				/* offset (13 bits) in bytes 2-3: non-zero means no TCP header here */
				if ((((__u16)h[2] << 8) | h[3]) & 0xfff8)
					return XDP_PASS;
				proto = h[0];
				l4 = h + 8;
			} else {
				proto = h[0];
				l4 = h + ((__u32)h[1] + 1) * 8;
			}
		}
	} else {
		return XDP_PASS;
	}
	if (proto != IPPROTO_TCP)
		return XDP_PASS;
	struct tcphdr *tcp = l4;
	if ((void *)(tcp + 1) > end)
		return XDP_PASS;
	return admit(&src, tcp->dest) ? XDP_PASS : XDP_DROP;
}

/* Baseline for `keel bench kernel`: the same attach point doing nothing. */
SEC("xdp")
int keel_pass_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* ------------------------------------------- cgroup_skb: skb->data starts at the IP header */

SEC("cgroup_skb/ingress")
int keel_admit_skb(struct __sk_buff *skb)
{
	struct src_key src = {};
	__u32 off;
	__u8 proto;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.ihl < 5)
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 1;
		src.family = 4;
		__builtin_memcpy(src.addr, &ip.saddr, 4);
		proto = ip.protocol;
		off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		src.family = 6;
		__builtin_memcpy(src.addr, &ip6.saddr, 16);
		proto = ip6.nexthdr;
		off = sizeof(ip6);
#pragma unroll
		for (int i = 0; i < MAX_EXT_HDRS; i++) {
			if (!is_ext_hdr(proto))
				break;
			__u8 h[4];
			if (bpf_skb_load_bytes(skb, off, h, sizeof(h)))
				return 1;
			if (proto == IPPROTO_FRAGMENT) {
				if ((((__u16)h[2] << 8) | h[3]) & 0xfff8)
					return 1;
				off += 8;
			} else {
				off += ((__u32)h[1] + 1) * 8;
			}
			proto = h[0];
		}
	} else {
		return 1;
	}
	if (proto != IPPROTO_TCP)
		return 1;
	__u16 ports[2];
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return 1;
	return admit(&src, ports[1]);
}

/* Baseline for the cgroup_skb path. */
SEC("cgroup_skb/ingress")
int keel_pass_skb(struct __sk_buff *skb)
{
	return 1;
}
