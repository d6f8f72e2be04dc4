# modl — GNU make, C11, POSIX threads. `make help` lists the targets.
VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
FUZZ_CC    ?= clang
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 60

PKGS       := libcurl libcrypto libarchive libcjson yaml-0.1
# Debian packages that provide the build, the tests and the fuzzers.
DEB_PKGS   := gcc make pkg-config libcurl4-openssl-dev libssl-dev libarchive-dev \
              libcjson-dev libyaml-dev libcmocka-dev python3 clang clang-format libclang-rt-14-dev \
              ca-certificates git groff-base zsh fish nodejs aria2 \
              sentencepiece python3-sentencepiece python3-numpy zstd

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
STD_FLAGS  := -std=c11 -iquote src -iquote . -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -DMODL_VERSION='"$(VERSION)"'
WARN_FLAGS := -Wall -Wextra -Werror
CFLAGS     ?= -O2 -g
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

# Generated sources live in the build folder: the license knowledge base, from src/license/data/.
GEN        := build/gen
GEN_SRCS   := $(GEN)/license/embedded.c
# cmd/args.c and cmd/output.c are the command line's own helpers, in the library so that
# the unit tests can reach them.
CLI_SRCS   := cmd/args.c cmd/output.c
LIB_SRCS   := $(sort $(wildcard src/*/*.c formats/*.c)) $(CLI_SRCS) $(GEN_SRCS)
CMD_SRCS   := $(filter-out $(CLI_SRCS),$(sort $(wildcard cmd/*.c)))
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
HEADERS    := $(wildcard src/*/*.h formats/*.h cmd/*.h)

REL        := build/release
ASAN       := build/asan
TSAN       := build/tsan
TSAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
REL_OBJS   := $(LIB_SRCS:%.c=$(REL)/%.o)
ASAN_OBJS  := $(LIB_SRCS:%.c=$(ASAN)/%.o)
TSAN_OBJS  := $(LIB_SRCS:%.c=$(TSAN)/%.o) $(CMD_SRCS:%.c=$(TSAN)/%.o)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(ASAN)/tests/%)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

# Quiet by default; `make V=1` shows the commands.
Q := $(if $(V),,@)

.PHONY: all check unit e2e tsan format demo install clean deps fuzz fuzz-build bench help
.DELETE_ON_ERROR:

all: modl

help:
	@echo "make [all]    build ./modl"
	@echo "make check    install missing packages (as root), build, run every test"
	@echo "make unit [T=test_name]   the unit tests under ASan+UBSan (or one program)"
	@echo "make e2e [K=expr]         the end-to-end and interop tests (or those whose id has expr)"
	@echo "make tsan     the threaded download, cache and quantize tests under ThreadSanitizer"
	@echo "make demo     run the main job against the bundled local hub"
	@echo "make fuzz     run each libFuzzer target for FUZZ_SECONDS ($(FUZZ_SECONDS))"
	@echo "make format   clang-format every C file in place (.clang-format; tests check it)"
	@echo "make bench    run the benchmarks under bench/"
	@echo "make install  PREFIX=$(PREFIX) DESTDIR=: binary, man pages, completions"
	@echo "make deps     install (as root) or print the missing Debian packages"

# ---- build -----------------------------------------------------------------------------
$(GEN)/license/embedded.c: src/license/data/generate.py $(wildcard src/license/data/*.txt) \
		src/license/data/terms.json
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(PYTHON) src/license/data/generate.py $@

modl: $(REL)/libmodl.a $(CMD_SRCS:%.c=$(REL)/%.o)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -pthread -o $@ $(CMD_SRCS:%.c=$(REL)/%.o) $(REL)/libmodl.a $(PKG_LIBS) -lm

# -MMD -MP: each object depends on the headers it includes (the .d files), not on all of them.
DEP_FLAGS  := -MMD -MP

$(REL)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(STD_FLAGS) $(WARN_FLAGS) $(CFLAGS) $(DEP_FLAGS) -pthread $(PKG_CFLAGS) -c -o $@ $<

$(REL)/libmodl.a: $(REL_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

# The sanitizer build: the unit tests and the end-to-end tests run this binary.
$(ASAN)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-ASAN $<")
	$(Q)$(CC) $(STD_FLAGS) $(WARN_FLAGS) $(ASAN_FLAGS) $(DEP_FLAGS) -pthread $(PKG_CFLAGS) -c -o $@ $<

$(ASAN)/libmodl.a: $(ASAN_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(ASAN)/modl: $(ASAN)/libmodl.a $(CMD_SRCS:%.c=$(ASAN)/%.o)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ASAN_FLAGS) -pthread -o $@ $(CMD_SRCS:%.c=$(ASAN)/%.o) $(ASAN)/libmodl.a $(PKG_LIBS) -lm

# The ThreadSanitizer build, for the tests whose work runs on the pool (make tsan).
$(TSAN)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-TSAN $<")
	$(Q)$(CC) $(STD_FLAGS) $(WARN_FLAGS) $(TSAN_FLAGS) $(DEP_FLAGS) -pthread $(PKG_CFLAGS) -c -o $@ $<

$(TSAN)/modl: $(TSAN_OBJS)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(TSAN_FLAGS) -pthread -o $@ $(TSAN_OBJS) $(PKG_LIBS) -lm

$(ASAN)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(ASAN)/libmodl.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(STD_FLAGS) $(WARN_FLAGS) $(ASAN_FLAGS) -pthread $(PKG_CFLAGS) -o $@ $< \
		$(ASAN)/libmodl.a $(PKG_LIBS) -lcmocka -lm

# ---- tests -----------------------------------------------------------------------------
check: deps modl $(ASAN)/modl $(UNIT_BINS)
	@PYTHON=$(PYTHON) MODL_BIN=$(ASAN)/modl bash tests/run $(UNIT_BINS)

# `make unit T=test_gguf` runs one unit test program; `make e2e K=test_pull` the end-to-end
# tests whose id contains K.
UNIT_PICK  = $(if $(T),$(filter %/$(T),$(UNIT_BINS)),$(UNIT_BINS))

unit: $(UNIT_PICK)
	@PYTHON=$(PYTHON) bash tests/run --unit-only $(UNIT_PICK)

e2e: modl $(ASAN)/modl
	@PYTHON=$(PYTHON) MODL_BIN=$(ASAN)/modl K="$(K)" bash tests/run --e2e-only

# The threaded paths under ThreadSanitizer: parallel and concurrent pulls, cache verify over
# the pool, quantization with several threads. A race report fails the test (halt_on_error).
TSAN_TESTS := test_pull.Basics test_pull.Faults test_pull.ResumeAndConcurrency test_cache.Verify \
              test_cache.Rm test_cache.Prune test_quantize.QuantizeOutput test_hardening_pull

tsan: modl $(TSAN)/modl
	@PYTHON=$(PYTHON) MODL_BIN=$(TSAN)/modl TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
		K="$(TSAN_TESTS)" bash tests/run --e2e-only

demo: deps modl
	@$(PYTHON) tests/demo.py

# ---- fuzzing (clang + libFuzzer) -------------------------------------------------------
# The library is compiled once for all targets (-fsanitize=fuzzer-no-link), each target links it.
FUZZ       := build/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=address,undefined
FUZZ_OBJS  := $(LIB_SRCS:%.c=$(FUZZ)/lib/%.o)

$(FUZZ)/lib/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(FUZZ_CC) $(STD_FLAGS) $(WARN_FLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(DEP_FLAGS) \
		-pthread $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ)/libmodl.a: $(FUZZ_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ)/%: tests/fuzz/%.c $(FUZZ)/libmodl.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(STD_FLAGS) $(WARN_FLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -pthread $(PKG_CFLAGS) \
		-o $@ $< $(FUZZ)/libmodl.a $(PKG_LIBS) -lm

fuzz-build: $(FUZZ_BINS)

fuzz: deps $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
		name=$$(basename $$f); corpus=tests/fuzz/corpus/$${name#fuzz_}; \
		work=build/fuzz/work/$${name#fuzz_}; mkdir -p $$work; \
		echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=0 $$work $$corpus 2>build/fuzz/$$name.log \
			|| { tail -40 build/fuzz/$$name.log; exit 1; }; \
	done; echo "fuzz: every target ran clean"

bench: modl
	@bash bench/run $(BENCH)

format:
	@git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/' | xargs clang-format -i

-include $(wildcard $(foreach b,$(REL) $(ASAN) $(TSAN) build/fuzz/lib,$(b)/*.d $(b)/*/*.d $(b)/*/*/*.d $(b)/*/*/*/*.d))

# ---- install ---------------------------------------------------------------------------
install: modl
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 modl $(DESTDIR)$(PREFIX)/bin/modl
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 completions/modl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/modl
	install -m 644 completions/_modl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_modl
	install -m 644 completions/modl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/modl.fish

# ---- packages --------------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "deps: missing packages; run as root:"; \
		echo "  apt-get install -y$$missing"; exit 1; \
	fi

clean:
	rm -rf build modl
