# smolc — plain Makefile, pkg-config for every library.
#   make            build ./smolc
#   make check      build and run every test (tests/run.sh; JOBS=N at a time, default nproc)
#   make asan       build ./smolc-asan (ASan+UBSan); make check SAN=1 runs the tests with it
#   make test       everything CI runs (installs deps, tests normal + ASan, fuzz)
#   make deps       install the Debian packages the build and tests need
#   make install PREFIX=/usr/local   (smolc, its manual smolc.1, bash completion)
#   make doc        build/smolc.1 and build/smolc.bash only
#   make demo       build and boot examples/hello (the README's main command)

PREFIX  ?= /usr/local
CC      ?= cc
PKGS     = ext2fs fdisk libarchive libcurl yaml-0.1 libcrypto jansson zlib libzstd libelf liblzma
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcom_err
# ./smolc links only libc, libyaml and jansson (the static archives when the
# -dev packages ship them: no shared object to load); the rest are loaded on first
# use (compiler/lazylib.c) so that run/ps/check/plan start in a few ms.
LAZY_LIBS  = curl archive ext2fs com_err fdisk crypto z zstd elf lzma
YAML_A    := $(shell $(CC) -print-file-name=libyaml.a 2>/dev/null)
JANSSON_A := $(shell $(CC) -print-file-name=libjansson.a 2>/dev/null)
BIN_LIBS  := $(if $(filter /%,$(YAML_A)),$(YAML_A),$(shell pkg-config --libs yaml-0.1 2>/dev/null)) \
	     $(if $(filter /%,$(JANSSON_A)),$(JANSSON_A),-ljansson) -ldl
WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ifdef WERROR
WARN    += -Werror
endif
# Layers (README "Where things live"): cli/ on top calls compiler/, runtime/
# and oci/ (the image store and the registry client); all sit on common/. Each directory is compiled with the include
# paths of what it may use, so runtime/ cannot include compiler/ headers
# (tests/include-check.sh checks the same, and for cycles).
INC_common   = -Icommon
INC_compiler = -Icommon -Icompiler -Ibuild/gen
INC_runtime  = -Icommon -Iruntime
INC_oci      = -Icommon -Ioci
INC_cli      = -Icommon -Icompiler -Iruntime -Ioci -Icli -Ibuild/gen
INC_build    = $(INC_compiler)
INC_ALL      = -Icommon -Icompiler -Iruntime -Ioci -Icli -Ibuild/gen
layer_inc    = $(INC_$(firstword $(subst /, ,$(1))))
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(INC_ALL)
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Every object is compiled with -DSMOLC_VERSION and depends on VERSION: after
# a bump, `smolc --version`, the user agent and the resolution memo keys follow.
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifneq ($(wildcard grammar/parser.y),)
GEN_C   = build/gen/lexer.c build/gen/parser.c
GEN_H   = build/gen/lexer.h build/gen/parser.h
endif
SRCS    = $(wildcard common/*.c compiler/*.c runtime/*.c oci/*.c cli/*.c)
HDRS    = $(wildcard common/*.h compiler/*.h runtime/*.h oci/*.h cli/*.h)
LIBSRCS = $(filter-out cli/main.c compiler/lazylib.c,$(SRCS))
OBJS    = $(patsubst %.c,build/obj/%.o,$(LIBSRCS) $(GEN_C))
SANOBJS = $(patsubst %.c,build/san/%.o,$(LIBSRCS) $(GEN_C))

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
UNIT_SAN  = $(patsubst tests/unit/%.c,build/tests-san/%,$(UNIT_SRCS))

.PHONY: all check asan deps install clean demo doc fuzz fuzzers unit bench test
.SECONDARY:
.DELETE_ON_ERROR:

all: smolc

build/gen/lexer.c build/gen/lexer.h: grammar/lexer.l | build/gen/parser.h
	@mkdir -p build/gen
	@echo '  FLEX    $<'; flex --header-file=build/gen/lexer.h -o build/gen/lexer.c $<

build/gen/parser.c build/gen/parser.h: grammar/parser.y
	@mkdir -p build/gen
	@echo '  BISON   $<'; bison -Wall -Werror --defines=build/gen/parser.h -o build/gen/parser.c $<

# Generated scanner/parser: relax warnings that flex/bison output trips.
GENWARN = -Wno-unused-function -Wno-sign-compare -Wno-missing-prototypes -Wno-unused-but-set-variable

build/obj/build/gen/%.o: build/gen/%.c $(GEN_H) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(INC_build) $(GENWARN) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/obj/%.o: %.c $(GEN_H) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(call layer_inc,$*) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/san/build/gen/%.o: build/gen/%.c $(GEN_H) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(INC_build) $(GENWARN) $(SANFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/san/%.o: %.c $(GEN_H) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(call layer_inc,$*) $(SANFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<

build/libsmolc.a: $(OBJS)
	@rm -f $@; ar rcs $@ $^
build/libsmolc-san.a: $(SANOBJS)
	@rm -f $@; ar rcs $@ $^

# The sonames lazylib.c dlopen()s, read off the -dev packages' lib*.so.
build/gen/sonames.h: Makefile
	@mkdir -p build/gen
	@for l in $(LAZY_LIBS); do \
	  f=$$($(CC) -print-file-name=lib$$l.so); \
	  s=$$(objdump -p "$$f" 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }'); \
	  if [ -z "$$s" ]; then echo "Makefile: no soname for lib$$l.so; run 'make deps'" >&2; exit 1; fi; \
	  echo "#define SONAME_$$l \"$$s\""; \
	done > $@.tmp && mv $@.tmp $@
build/obj/compiler/lazylib.o build/san/compiler/lazylib.o: build/gen/sonames.h

smolc: build/obj/cli/main.o build/obj/compiler/lazylib.o build/libsmolc.a
	$(CC) $(CFLAGS) -o $@ $^ $(BIN_LIBS)
smolc-asan: build/san/cli/main.o build/san/compiler/lazylib.o build/libsmolc-san.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(BIN_LIBS)
asan: smolc-asan

build/tests/%: tests/unit/%.c build/libsmolc.a
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) -o $@ $< build/libsmolc.a $(PKG_LIBS) -lcmocka
build/tests-san/%: tests/unit/%.c build/libsmolc-san.a
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) $(SANFLAGS) -o $@ $< build/libsmolc-san.a $(PKG_LIBS) -lcmocka

unit: $(UNIT_BINS)

ifdef SAN
check: smolc smolc-asan $(UNIT_BINS) $(UNIT_SAN)
	SMOLC=$(CURDIR)/smolc-asan UNIT_DIR=build/tests-san SMOLC_SAN=1 $(if $(JOBS),JOBS=$(JOBS)) tests/run.sh
else
check: smolc $(UNIT_BINS)
	SMOLC=$(CURDIR)/smolc UNIT_DIR=build/tests $(if $(JOBS),JOBS=$(JOBS)) tests/run.sh
endif

# libFuzzer harnesses (clang): the library is compiled once with the
# fuzzer's instrumentation, each harness is linked against it.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DSMOLC_VERSION='"$(VERSION)"' -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	      $(INC_ALL) $(PKG_CFLAGS) -Wno-unused-function
FUZZ_OBJS = $(patsubst %.c,build/fuzz/obj/%.o,$(LIBSRCS) $(GEN_C))
FUZZERS = build/fuzz/fuzz_parse build/fuzz/fuzz_archive build/fuzz/fuzz_pkgsummary
build/fuzz/obj/%.o: %.c $(GEN_H) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC/fuzz $<'; clang $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZERS): build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@echo '  LD/fuzz $@'; clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS)
fuzzers: $(FUZZERS)
fuzz: $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# Benchmark drivers (bench/*.c), linked against the library.
build/bench/%: bench/%.c build/libsmolc.a
	@mkdir -p build/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< build/libsmolc.a $(PKG_LIBS)

deps:
	@tests/deps.sh

# The README's test command: deps, -Werror build, tests, ASan+UBSan tests, fuzzing.
test:
	@tests/ci.sh

# The manual and the bash completion, generated from the commands' option
# tables (smolc --dump-man / --dump-completion: they cannot drift from --help).
build/smolc.1: cli/smolc.1.in smolc
	@echo '  MAN     $@'; { sed '/@COMMANDS@/,$$d' cli/smolc.1.in && ./smolc --dump-man && \
	  sed '1,/@COMMANDS@/d' cli/smolc.1.in; } >$@.tmp && mv $@.tmp $@
build/smolc.bash: smolc
	@echo '  GEN     $@'; ./smolc --dump-completion >$@.tmp && mv $@.tmp $@
doc: build/smolc.1 build/smolc.bash

install: smolc build/smolc.1 build/smolc.bash
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/smolc $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 smolc $(DESTDIR)$(PREFIX)/bin/smolc
	install -m 0644 build/smolc.1 $(DESTDIR)$(PREFIX)/share/man/man1/smolc.1
	install -m 0644 build/smolc.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/smolc
	cp -R sets services $(DESTDIR)$(PREFIX)/share/smolc/

# deps first (tests/demo.sh installs them, then builds smolc)
demo:
	tests/demo.sh

bench:
	bench/run.sh

clean:
	rm -rf build smolc smolc-asan
