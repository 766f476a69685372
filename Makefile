# The two commands of the README's quick start are `make run` and `make test`.
.PHONY: run test build lint

build:
	go build -o bin/arbiter ./cmd/arbiter

# The daemon on its default SQLite data dir, with examples/ as its jobs dir.
run:
	scripts/run

# The whole suite: formatting, vet, and every test with the race detector.
test:
	scripts/test
