module exitsnoop.dev

go 1.24.0

require (
	github.com/aquasecurity/libbpfgo v0.10.0-libbpf-1.5.1
	github.com/stretchr/testify v1.11.1
	golang.org/x/sys v0.38.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
