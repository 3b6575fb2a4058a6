# The two commands of the README. Both install and start what is missing.
.PHONY: up test build fmt lint

up:
	bash scripts/up.sh

test:
	bash scripts/test.sh

build:
	cargo build --workspace --bins

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
