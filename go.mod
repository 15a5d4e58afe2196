module github.com/dcnet-go/dcnet

go 1.26.0

require (
	github.com/urfave/cli/v3 v3.14.0
	golang.org/x/sys v0.50.0
	google.golang.org/protobuf v1.36.12
)
