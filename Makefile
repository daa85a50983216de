# The two commands of the README:
#   go run ./cmd/civicgate dev   – the gateway on embedded defaults
#   make test                    – every test, as CI runs them

.PHONY: test dev build bench

test:
	bash .ci/test

dev:
	go run ./cmd/civicgate dev

build:
	go build -o bin/civicgate ./cmd/civicgate

bench:
	go test -run '^$$' -bench . -benchmem ./auth/session/... ./gateway/...
