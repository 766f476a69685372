# The two commands of the README's quick start are `make run` and `make test`.
.PHONY: run test build lint bench bench-quick

build:
	go build -o bin/arbiter ./cmd/arbiter

# The daemon on its default SQLite data dir, with examples/ as its jobs dir.
run:
	scripts/run

# The whole suite: formatting, vet, and every test with the race detector.
test:
	scripts/test

# The benchmark harness: arbiter against baselines measured in the same run (see bench/main.go).
# Tables on stdout, JSON in bench/results/. The full run takes about 15 minutes.
bench:
	go run ./bench

# The same at small sizes, in under a minute.
bench-quick:
	go run ./bench -quick
