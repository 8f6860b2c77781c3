# Recharge — the two commands a newcomer needs: `make run` and `make test`. See README.md.

SHELL := /bin/bash
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# The server finds the built site here (pkg/, icons, manifest).
export LEPTOS_SITE_ROOT := target/site

.PHONY: run build tools test fmt-check clippy unit-tests postgres-tests instances-check fixture-check bench-check first-load-check bench chaos e2e clean-data

## Build everything (release) and serve on http://127.0.0.1:3000 with the database under ./data/.
run: build
	./target/release/recharge serve

## Install the pinned tools that are missing.
tools:
	./scripts/install-tools

## Release build of the server and the WebAssembly, precompressed; each page's islands in their own
## WebAssembly file (`--split`), loaded by the pages that have them. The driver is `xtask/`.
build: tools
	cargo xtask build --split

## Every check CI runs: formatting, lints, unit and integration tests, the benchmarks' small versions,
## release build, first-load check, browser tests.
## Each step's duration is printed after it, so a slow CI run says where its time went.
test:
	./scripts/install-tools --browser
	@set -e; for step in fmt-check clippy unit-tests postgres-tests instances-check fixture-check bench-check build first-load-check e2e; do \
		start=$$(date +%s); $(MAKE) --no-print-directory $$step; \
		echo "==> make $$step: $$(( $$(date +%s) - start )) s"; \
	done

fmt-check:
	cargo fmt --all -- --check

# Server side (ssr) and browser side (hydrate) are linted separately: their features must not mix.
clippy:
	cargo clippy -p domain -p db -p server -p sms -p station -p bank -p paper -p xtask --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

TEST_PACKAGES := -p domain -p db -p app -p server -p sms -p station -p bank -p paper
unit-tests:
	cargo test $(TEST_PACKAGES)

## The database layer's tests and the server's integration tests again, on PostgreSQL: a throw-away
## cluster on a free loopback port, run as the `postgres` user, stopped and removed whatever the result.
## The test binaries are unit-tests' own (scripts/run-tests-on-postgres says why). Then the journal
## benchmark's small version on both databases (the fast pages equal to the naive ones on PostgreSQL too),
## the live benchmark's over two instances (every stream of either gets every change), and the fault
## campaign's with two instances sharing the database and the modem, either killed at random.
postgres-tests:
	@dir=$$(mktemp -d /tmp/recharge-postgres-XXXXXX); \
	url=$$(scripts/test-postgres start $$dir) || { rm -rf $$dir; exit 1; }; \
	trap 'scripts/test-postgres stop '$$dir'; rm -rf '$$dir EXIT; \
	echo "PostgreSQL for the tests: $$url"; \
	scripts/run-tests-on-postgres $$url -- $(TEST_PACKAGES) && \
	$(BENCH_CHECK) -p db --bench journal -- --rows 20000 --runs 2 --postgres $$url && \
	$(BENCH_CHECK) -p server --bench live -- --streams 200 --topups 10 --postgres $$url --instances 2 && \
	$(BENCH_CHECK) -p server --bench chaos -- --topups 300 --rate 10 --seed 7 --postgres $$url --instances 2

## Two instances of the server (as unit-tests built it) on one PostgreSQL behind Debian's nginx with the
## site in deploy/: one modem owner, a login through nginx, a top-up on one instance seen live on the
## other's stream, the owner killed and the top-up finished by the other, PostgreSQL stopped for 16 s
## under them and live events flowing again after (scripts/check-instances).
instances-check:
	./scripts/check-instances target/debug/recharge

## Independent checks of the test material: the bank file fixtures against the ISO 20022 schemas; the
## deployment files with systemd's and nginx's own checkers.
fixture-check:
	./scripts/check-fixtures
	./scripts/check-qr-bills
	./scripts/check-deploy

## The benchmarks at full size (docs/performance.md); about an hour in all, gammu-smsd's queue the longest.
## `cargo bench` rebuilds target/release/recharge without the build driver's settings, so `build` comes after
## it and before the first-load measurement.
bench:
	cargo bench -p db --bench journal
	cargo bench -p server --bench live
	cargo bench -p server --bench send
	cargo bench -p server --bench intake
	cargo bench -p server --bench export
	cargo bench -p server --bench payments
	$(MAKE) build
	./scripts/first-load/run

## The benchmarks' small versions: the harnesses work and their invariants hold (no time thresholds).
## Built in the test profile (`--profile dev`): they reuse what `unit-tests` compiled instead of building
## the whole server again optimised, and leave target/release to `build`. Their figures mean nothing;
## `make bench` measures.
BENCH_CHECK := cargo bench --profile dev
bench-check:
	$(BENCH_CHECK) -p db --bench journal -- --rows 20000 --runs 2
	$(BENCH_CHECK) -p server --bench live -- --streams 200 --topups 10
	$(BENCH_CHECK) -p server --bench chaos -- --topups 300 --rate 10 --seed 7
	$(BENCH_CHECK) -p server --bench send -- --small
	$(BENCH_CHECK) -p server --bench statements -- --keys 100
	$(BENCH_CHECK) -p server --bench intake -- --topups 500 --clients 1,16
	$(BENCH_CHECK) -p server --bench export -- --rows 50000
	$(BENCH_CHECK) -p server --bench payments -- --txs 1000

## Sizes of the browser files and Lighthouse on the login page, against the release build (after `build`).
first-load-check:
	./scripts/first-load/run --small

## The fault campaign at full size (docs/reliability.md): 10,000 top-ups under every fault, about 15
## minutes; a random seed unless SEED=N is given (a failure is replayed with its seed).
chaos:
	cargo bench -p server --bench chaos -- $(if $(SEED),--seed $(SEED))

e2e:
	rm -rf target/tmp/e2e-bills
	cd end2end && npx playwright test
	./scripts/check-qr-bills target/tmp/e2e-bills/*.pdf

## Remove the local database (the demo accounts are created again on the next start).
clean-data:
	rm -rf data
