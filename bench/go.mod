module exitsnoop.dev/bench

go 1.24.0

replace exitsnoop.dev => ../

require (
	github.com/cilium/ebpf v0.12.3
	golang.org/x/sys v0.38.0
)

require golang.org/x/exp v0.0.0-20230224173230-c95f2b4c22f2 // indirect
