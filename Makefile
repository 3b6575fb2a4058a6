# The two commands of the README. Both install and start what is missing.
.PHONY: up test bench build fmt lint

up:
	bash scripts/up.sh

test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh $(ARGS)

build:
	cargo build --workspace --bins

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
