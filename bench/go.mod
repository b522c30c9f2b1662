module exitsnoop.dev/bench

go 1.24.0

replace exitsnoop.dev => ../

require (
	exitsnoop.dev v0.0.0-00010101000000-000000000000
	github.com/cilium/ebpf v0.12.3
	golang.org/x/sys v0.38.0
)

require (
	github.com/aquasecurity/libbpfgo v0.10.0-libbpf-1.5.1 // indirect
	golang.org/x/exp v0.0.0-20230224173230-c95f2b4c22f2 // indirect
)
