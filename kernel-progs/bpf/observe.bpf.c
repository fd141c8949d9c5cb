// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Observability of the appliance's hot paths, on classic tracepoints:
 *  - io_uring completion latency: io_uring_submit_req -> io_uring_complete, keyed by request,
 *    in two histograms: waits (accept, recv, read, poll, timeout: they complete when a peer or
 *    a timer acts, so an idle daemon has long ones) and requests (send, write, close, cancel…:
 *    the daemon's own work);
 *  - preemption of pinned workers: sched_switch where a watched thread (or any thread on a
 *    watched CPU) is switched out while still runnable, and how long until it runs again.
 * Tracepoint records are declared with preserve_access_index: libbpf relocates every field
 * offset against the running kernel's BTF (trace_event_raw_*), so layout drift is survived. */
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <bpf/bpf_helpers.h>

#include "observe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* sched_switch's prev_state carries this bit when the task was preempted (TASK_REPORT_MAX). */
#define TASK_REPORT_MAX 0x100
#define TASK_REPORT_MASK 0xff

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_submit_req {
	struct trace_entry ent;
	void *ctx;
	void *req;
	__u64 user_data;
	__u8 opcode;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_complete {
	struct trace_entry ent;
	void *ctx;
	void *req;
	__u64 user_data;
	int res;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_switch {
	struct trace_entry ent;
	char prev_comm[16];
	int prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	int next_pid;
	int next_prio;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct obs_params);
} obs_params SEC(".maps");

/* In-flight io_uring requests: request pointer -> submit time, with WAIT_BIT set for waits.
 * LRU so requests whose completion is never traced (ring torn down) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} obs_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} obs_uring_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} obs_uring_wait_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} obs_watch_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_WATCHED_CPUS);
	__type(key, __u32);
	__type(value, __u8);
} obs_watch_cpu SEC(".maps");

/* Preempted watched threads: tid -> time it was switched out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} obs_offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} obs_preempt_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OBS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} obs_counters SEC(".maps");

static __always_inline void bump(void *map, __u32 idx, __u64 by)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);
	if (c)
		*c += by; /* per-CPU slot: no other writer */
}

/* floor(log2(v)) for v > 0, 0 for v == 0; branch-free halving, no loop for the verifier. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;
	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffffULL) << 4; v >>= shift; r |= shift;
	shift = (v > 0xffULL) << 3; v >>= shift; r |= shift;
	shift = (v > 0xfULL) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3ULL) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline void observe(void *hist, __u64 ns)
{
	bump(hist, log2_u64(ns) & (HIST_BUCKETS - 1), 1);
	bump(hist, HIST_SUM, ns);
}

/* Submit times are ns since boot: the top bit is free for the request's class. */
#define WAIT_BIT (1ULL << 63)

/* Operations that complete when a peer or a timer acts, not when the daemon's work is done. */
static __always_inline int is_wait(__u8 op)
{
	switch (op) {
	case IORING_OP_ACCEPT:
	case IORING_OP_RECV:
	case IORING_OP_RECVMSG:
	case IORING_OP_READ:
	case IORING_OP_READV:
	case IORING_OP_READ_FIXED:
	case IORING_OP_POLL_ADD:
	case IORING_OP_TIMEOUT:
	case IORING_OP_LINK_TIMEOUT:
		return 1;
	default:
		return 0;
	}
}

SEC("tracepoint/io_uring/io_uring_submit_req")
int keel_uring_submit(struct trace_event_raw_io_uring_submit_req *ctx)
{
	__u32 zero = 0;
	struct obs_params *p = bpf_map_lookup_elem(&obs_params, &zero);
	if (p && p->tgid && (bpf_get_current_pid_tgid() >> 32) != p->tgid)
		return 0;
	__u64 req = (__u64)ctx->req;
	__u64 stamp = bpf_ktime_get_ns() & ~WAIT_BIT;
	if (is_wait(ctx->opcode))
		stamp |= WAIT_BIT;
	bpf_map_update_elem(&obs_inflight, &req, &stamp, BPF_ANY);
	bump(&obs_counters, OBS_URING_SUBMITTED, 1);
	return 0;
}

/* Completions may run in another task (io-wq, task work): matched by request, not by tgid. */
SEC("tracepoint/io_uring/io_uring_complete")
int keel_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	__u64 req = (__u64)ctx->req;
	__u64 *start = bpf_map_lookup_elem(&obs_inflight, &req);
	if (!start)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 at = *start & ~WAIT_BIT;
	__u64 ns = now > at ? now - at : 0;
	if (*start & WAIT_BIT)
		observe(&obs_uring_wait_h, ns);
	else
		observe(&obs_uring_hist, ns);
	bump(&obs_counters, OBS_URING_COMPLETED, 1);
	bpf_map_delete_elem(&obs_inflight, &req);
	return 0;
}

static __always_inline int watched(__u32 tid, __u32 cpu)
{
	if (tid == 0) /* the idle task is never a worker */
		return 0;
	if (bpf_map_lookup_elem(&obs_watch_tid, &tid))
		return 1;
	__u8 *on = bpf_map_lookup_elem(&obs_watch_cpu, &cpu);
	return on && *on;
}

SEC("tracepoint/sched/sched_switch")
int keel_sched_switch(struct trace_event_raw_sched_switch *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 prev = ctx->prev_pid;
	__u32 next = ctx->next_pid;
	long state = ctx->prev_state;
	__u64 now = bpf_ktime_get_ns();

	/* Still runnable when switched out ("R" or "R+"): the CPU was taken from it. */
	int runnable = (state & TASK_REPORT_MAX) || !(state & TASK_REPORT_MASK);
	if (runnable && watched(prev, cpu)) {
		bpf_map_update_elem(&obs_offcpu, &prev, &now, BPF_ANY);
		bump(&obs_counters, OBS_PREEMPTIONS, 1);
	}
	__u64 *since = bpf_map_lookup_elem(&obs_offcpu, &next);
	if (since) {
		observe(&obs_preempt_h, now > *since ? now - *since : 0);
		bpf_map_delete_elem(&obs_offcpu, &next);
	}
	return 0;
}
