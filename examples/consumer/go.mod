module example.com/consumer

go 1.24.0

require exitsnoop.dev v0.0.0-00010101000000-000000000000

require (
	github.com/aquasecurity/libbpfgo v0.10.0-libbpf-1.5.1 // indirect
	golang.org/x/sys v0.38.0 // indirect
)

// This example builds against the checkout it lives in; yours requires a version.
replace exitsnoop.dev => ../..
