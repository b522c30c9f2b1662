module exitsnoop.dev

go 1.26.8

require (
	github.com/aquasecurity/libbpfgo v0.10.0-libbpf-1.5.1
	golang.org/x/sys v0.38.0
)
