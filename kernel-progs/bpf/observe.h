/* Layouts shared by observe.bpf.c and the Rust loader (src/observe.rs mirrors them). */
#ifndef KEEL_OBSERVE_H
#define KEEL_OBSERVE_H

#include <linux/types.h>

/* obs_params[0]. tgid == 0 watches io_uring submissions of every process. */
struct obs_params {
	__u32 tgid;
	__u32 _pad;
};

/* Histograms are per-CPU arrays of HIST_SLOTS u64: slot i (< 64) counts values v (ns) with
 * floor(log2(v)) == i (v == 0 lands in slot 0); slot HIST_SUM holds the sum of the values. */
#define HIST_BUCKETS 64
#define HIST_SUM 64
#define HIST_SLOTS 65

/* Indices of obs_counters (per-CPU u64). */
#define OBS_URING_SUBMITTED 0 /* submissions seen for the watched tgid */
#define OBS_URING_COMPLETED 1 /* completions matched to a seen submission */
#define OBS_PREEMPTIONS 2     /* watched threads switched out while still runnable */
#define OBS_CNT_MAX 3

#define MAX_WATCHED_CPUS 1024

#endif
