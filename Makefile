# oxha — build, install, test and demo.  `make help` lists the targets.
SHELL      := /bin/bash
PREFIX     ?= /usr
DESTDIR    ?=
OCF_DIR    := $(DESTDIR)$(PREFIX)/lib/ocf/resource.d/oxha
SBIN_DIR   := $(DESTDIR)$(PREFIX)/sbin
MAN_DIR    := $(DESTDIR)$(PREFIX)/share/man
STAGE      ?= $(CURDIR)/stage
DEB_DIR    ?= $(CURDIR)

# Static binaries: musl when its Rust target is installed (tests/setup-deps adds it),
# otherwise glibc with crt-static. Both are decided when a recipe runs, never when make starts:
# `make test` and `make demo` install the musl target first (deps), and a value computed before
# that would be stale. `=` (not `:=`) makes every use ask again.
MUSL       := x86_64-unknown-linux-musl
TARGET      = $(shell rustup target list --installed 2>/dev/null | grep -qx $(MUSL) && echo $(MUSL) || rustc -vV | sed -n 's/^host: //p')
RELEASE     = target/$(TARGET)/release
# Only for the release build: with --target, cargo keeps RUSTFLAGS off build scripts and proc
# macros, which cannot be linked with crt-static. Never exported to `cargo test`.
STATIC_FLAGS = $(if $(filter $(MUSL),$(TARGET)),,-C target-feature=+crt-static)

# Agents: agents/<name> builds the OCF agent <name>; fence/<name> builds fence_<name>.
# Test fixtures are staged for the tests but installed only with WITH_TEST_AGENTS=1.
TEST_OCF   := ocf-probe
TEST_FENCE := probe
OCF_AGENTS   := $(filter-out $(if $(WITH_TEST_AGENTS),,$(TEST_OCF)),$(notdir $(wildcard agents/*)))
FENCE_AGENTS := $(filter-out $(if $(WITH_TEST_AGENTS),,$(TEST_FENCE)),$(notdir $(wildcard fence/*)))
# Operator tools: tools/<name> builds /usr/sbin/<name> (oxha-check), man page <name>.8.
TOOLS        := $(notdir $(wildcard tools/*))

.PHONY: help build install deb stage test unit-test deps man lint demo demo-reinsert demo-clean bench clean

help:
	@echo "make build       static release binaries ($(TARGET))"
	@echo "make install     install agents and oxha-check (DESTDIR=, PREFIX=$(PREFIX)); WITH_TEST_AGENTS=1 adds test fixtures"
	@echo "make deb         the Debian package oxha_<version>_amd64.deb (in DEB_DIR=$(DEB_DIR))"
	@echo "make test        install test dependencies (apt-get), build, run every test suite"
	@echo "make demo        a local cluster with the agents doing real work; make demo-clean stops it"
	@echo "make demo-reinsert  power the demo's failed compute hosts on and put them back in service"
	@echo "make man         regenerate man/ from the agents' and oxha-check's metadata"
	@echo "make lint        cargo fmt --check and clippy -D warnings"
	@echo "make bench       benchmarks against the agents oxha replaces (bench/)"
	@echo "make soak        the chaos soak: SOAK_MINUTES=$(SOAK_MINUTES) of seeded faults (SOAK_SEED=) on the real stack"

build:
	RUSTFLAGS="$(STATIC_FLAGS)" cargo build --release --locked --target $(TARGET) --workspace --bins

install: build
	install -d $(OCF_DIR) $(SBIN_DIR) $(MAN_DIR)/man7 $(MAN_DIR)/man8
	for a in $(OCF_AGENTS); do install -m 0755 $(RELEASE)/$$a $(OCF_DIR)/$$a; done
	for a in $(FENCE_AGENTS); do install -m 0755 $(RELEASE)/fence_$$a $(SBIN_DIR)/fence_$$a; done
	for a in $(OCF_AGENTS); do install -m 0644 man/ocf_oxha_$$a.7 $(MAN_DIR)/man7/; done
	for a in $(FENCE_AGENTS); do install -m 0644 man/fence_$$a.8 $(MAN_DIR)/man8/; done
	for t in $(TOOLS); do install -m 0755 $(RELEASE)/$$t $(SBIN_DIR)/$$t; done
	for t in $(TOOLS); do install -m 0644 man/$$t.8 $(MAN_DIR)/man8/; done

# The Debian package (packaging/): what `make install` lays out, plus copyright, changelog,
# compressed man pages; never the test fixtures. tests/check-deb checks it.
deb: build
	bash packaging/build-deb $(RELEASE) $(DEB_DIR)

# The tree the tests run against: every agent, fixtures included, plus the test tools.
stage:
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr WITH_TEST_AGENTS=1
	install -d $(STAGE)/tools
	find $(RELEASE) -maxdepth 1 -type f -perm -u+x -exec install -m 0755 {} $(STAGE)/tools/ \;

deps:
	bash tests/setup-deps

# Everything CI runs: the set-up (tests/setup-deps), the build, every suite; prints each one's time.
test:
	bash tests/run-all

unit-test:
	cargo test --locked --workspace --lib --bins

man:
	OXHA_BLESS=1 cargo test --locked --workspace man_page

lint:
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

demo: deps
	bash tests/demo/run

demo-reinsert:
	bash tests/demo/reinsert

demo-clean:
	bash tests/demo/run clean

bench: stage
	bash bench/run

# The chaos soak (tests/soak): SOAK_MINUTES of random faults from SOAK_SEED (random if unset) on
# the real cluster and OpenStack; its report goes to bench/soak/. `make test` runs a short one.
SOAK_MINUTES ?= 60
soak: deps stage
	mkdir -p bench/soak
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_REPORT=$(CURDIR)/bench/soak/report-$$(date +%Y%m%d-%H%M).txt \
		cargo test --locked -p oxha-soak --test soak -- --nocapture

clean:
	cargo clean
	rm -rf $(STAGE)
