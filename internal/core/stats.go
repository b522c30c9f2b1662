package core

// #include <stdlib.h>
// #include "core.h"
import "C"

import "unsafe"

// CountCPUs counts the CPUs of a list such as "0-3,5"; false if it is not one.
func CountCPUs(list string) (int, bool) {
	var n C.int
	clist := C.CString(list)
	defer C.free(unsafe.Pointer(clist))
	ok := C.es_count_cpus(clist, &n) == 0
	return int(n), ok
}

// PossibleCPUs measures how many per-CPU values the kernel copies from the
// stats map fd, checked against the CPU list in the file possible.
func PossibleCPUs(fd int, possible string) (int, error) {
	var e C.struct_es_err
	var n C.int
	cpath := C.CString(possible)
	defer C.free(unsafe.Pointer(cpath))
	if err := result(C.es_possible_cpus(C.int(fd), cpath, &n, &e), &e); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Stats sums the stats map fd's ncpu values into sum, a struct exitsnoop_stats of layout.h,
// and returns the programs' skipped runs.
func Stats(fd int, progs []int, ncpu int, sum unsafe.Pointer) (missed uint64, err error) {
	var e C.struct_es_err
	var s C.struct_es_stats
	cprogs := make([]C.int, len(progs)+1)
	for i, p := range progs {
		cprogs[i] = C.int(p)
	}
	if err := result(C.es_stats(C.int(fd), &cprogs[0], C.int(len(progs)), C.int(ncpu), &s, &e), &e); err != nil {
		return 0, err
	}
	*(*C.struct_es_kernel_stats)(sum) = s.k
	return uint64(s.missed), nil
}
