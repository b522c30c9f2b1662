/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types exitsnoop.bpf.c touches, instead of a generated multi-megabyte
 * vmlinux.h. preserve_access_index makes every field access a CO-RE relocation, so
 * offsets come from the running kernel's BTF, not from these declarations.
 */
#ifndef __EXITSNOOP_KERNEL_TYPES_H
#define __EXITSNOOP_KERNEL_TYPES_H

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
enum { false = 0, true = 1 };

/* UAPI constants from linux/bpf.h that the program uses. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};
enum {
	BPF_F_MMAPABLE = (1U << 10),
};
enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
	BPF_RB_FORCE_WAKEUP = (1ULL << 1),
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t live;
	unsigned int flags;
	int group_exit_code;
};

struct task_struct {
	int pid;
	int tgid;
	int exit_code;
	__u64 start_boottime;
	struct task_struct *group_leader;
	struct signal_struct *signal;
};

#pragma clang attribute pop

/* include/linux/sched/signal.h: a macro, so not in BTF; unchanged since 2.6. */
#define SIGNAL_GROUP_EXIT 0x00000004

#endif /* __EXITSNOOP_KERNEL_TYPES_H */
