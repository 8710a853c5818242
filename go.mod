module github.com/ermine-rt/ermine

go 1.26

tool google.golang.org/protobuf/cmd/protoc-gen-go

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/stretchr/testify v1.8.4 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
