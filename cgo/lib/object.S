/* The committed BPF object (internal/bpfobj/exitsnoop.bpf.o), embedded as is:
 * the Makefile passes its path as ES_BPF_OBJECT. */
	.section .rodata
	.balign 8
	.globl es_bpf_object
es_bpf_object:
	.incbin ES_BPF_OBJECT
	.globl es_bpf_object_end
es_bpf_object_end:
	.section .note.GNU-stack,"",%progbits
