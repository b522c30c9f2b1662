/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The handful of kernel types the reference (seed) program reads. Every record is
 * marked preserve_access_index, so each field access becomes a CO-RE relocation
 * resolved against the running kernel's BTF: only names and types matter here,
 * not offsets or completeness.
 */
#ifndef __BENCH_SEED_KERNEL_TYPES_H
#define __BENCH_SEED_KERNEL_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

/* linux/bpf.h (UAPI) values used below. */
enum {
	BPF_MAP_TYPE_HASH = 1,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

struct bpf_pidns_info {
	__u32 pid;
	__u32 tgid;
};

/* The context of a raw tracepoint program: the tracepoint's arguments. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
	int exit_code;
	__u64 start_boottime;
};

#pragma clang attribute pop

#endif /* __BENCH_SEED_KERNEL_TYPES_H */
