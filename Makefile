# kist: build, demo, test, bench, lint.
# `make demo` and `make test` are all a fresh Debian machine needs (as root).

CARGO ?= cargo
# The release kist is linked statically (glibc's libc.a): no dynamic loader,
# no shared-library relocations at every start, and only the libc code kist
# uses is mapped: 0.7 MiB less peak RSS (kist calls nothing of glibc that
# needs dlopen, such as NSS). Proc macros cannot be built with crt-static,
# so the target is explicit (RUSTFLAGS then apply to it alone) and the
# binary lands in target/<host>/release. `cargo build --release` still
# builds the dynamic target/release/kist.
HOST  := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
KIST  := $(CURDIR)/target/$(HOST)/release/kist
# The hot path's functions first in .text, packed (lld; see hack/hot-symbols,
# which regenerates the list; symbols no longer there are skipped). The path
# is relative (rustc links in the workspace root): with an absolute one the
# flags, and perhaps the symbol hashes, would differ between checkouts.
# Not position-independent (as Debian's runc 1.1 and containerd shim): a
# static PIE rewrites its 220 KiB of relocated data (vtables, string tables)
# at every start, 56 copy-on-write page faults and ~150 µs per command in a
# VM. The heap, stack and mmap areas stay randomized; `make build PIE=1`
# builds a static PIE instead.
PIE ?=
STATIC_RUSTFLAGS := -C target-feature=+crt-static \
	$(if $(PIE),,-C relocation-model=static) \
	-C link-arg=-Wl,--symbol-ordering-file=hack/hot-symbols.txt \
	-C link-arg=-Wl,--no-warn-symbol-ordering
export DEBIAN_FRONTEND := noninteractive

.PHONY: all build demo test test-unprivileged test-v2 test-systemd test-systemd-engines test-systemd-v1 bench lint busybox deps install

all: build

build:
	RUSTFLAGS="$(RUSTFLAGS) $(STATIC_RUSTFLAGS)" $(CARGO) build --release --target $(HOST)

# The binary, its man pages and bash/zsh/fish completions (generated from
# the clap definitions by the binary itself). DESTDIR for staging.
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(KIST) $(DESTDIR)$(PREFIX)/bin/kist
	$(KIST) man $(DESTDIR)$(PREFIX)/share/man/man8
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(KIST) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kist
	$(KIST) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_kist
	$(KIST) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/kist.fish

# The tests and the demo need a *static* busybox to populate container rootfs.
busybox:
	@if [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then :; else \
		echo "installing busybox-static"; \
		apt-get update && apt-get install -y busybox-static; \
	fi

demo: busybox build
	@set -e; tmp=$$(mktemp -d /tmp/kist-demo.XXXXXX); \
	trap 'rm -rf "$$tmp"' EXIT; \
	hack/mkbundle "$$tmp/bundle" sh -c 'echo hello from kist; echo "hostname: $$(hostname)"; id'; \
	echo "+ $(KIST) --root $$tmp/root run -b $$tmp/bundle demo-$$$$"; \
	$(KIST) --root "$$tmp/root" run -b "$$tmp/bundle" demo-$$$$

# Everything the suite needs (busybox-static, namespace tools, the engines).
deps:
	hack/install-deps

# Unit tests that need root are #[ignore]d (so that `cargo test` passes as
# any user) and run here with the others.
test: deps build
	KIST_BIN=$(KIST) $(CARGO) test --release --test integration
	$(CARGO) test --release --lib --bins -- --include-ignored

# The unit tests as uid 65534, as a contributor without root runs them: none
# may fail (root-only ones must be #[ignore]d). Run as root. Release build:
# the same test executables `make test` then runs.
test-unprivileged:
	hack/unit-unprivileged --release

# The cgroup integration (and unit) tests again on a pure cgroup v2 host: a
# throwaway qemu guest (hack/vm-test; about a minute once built).
test-v2: busybox
	hack/vm-test

# The --systemd-cgroup tests (ignored by a plain cargo test: they need
# systemd as PID 1) in a systemd 252 qemu guest, plus the D-Bus client's
# test against a real dbus-daemon. libpam-systemd and dbus-user-session let
# a lingering user's own systemd start (the rootless tests), as on any
# desktop or server install.
test-systemd: busybox
	VM_RUN_PKGS=libpam-systemd,dbus-user-session VM_TEST_SYSTEMD=1 VM_TEST_UNIT=dbus:: hack/vm-test systemd:: -- --include-ignored

# Docker, podman and containerd with their default (systemd) cgroup manager
# and kist as runtime, in the systemd guest with the engines installed.
test-systemd-engines: busybox build
	hack/systemd-engines $(KIST)

# Both again in the systemd guest booted with systemd's hybrid layout
# (systemd.unified_cgroup_hierarchy=0: v1 controllers, cgroup2 at
# /sys/fs/cgroup/unified; hack/vm-run-cgroup), the v1 unit properties and
# files checked instead of the v2 ones.
test-systemd-v1: busybox build
	VM_RUN_PKGS=libpam-systemd,dbus-user-session VM_TEST_CGROUP=hybrid VM_TEST_SYSTEMD=1 VM_TEST_UNIT=cgroups::tests::expected_mode hack/vm-test systemd:: -- --include-ignored
	VM_TEST_CGROUP=hybrid hack/systemd-engines $(KIST)

bench: busybox build
	KIST=$(KIST) hack/bench

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
