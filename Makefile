# smolc — plain Makefile, pkg-config for every library.
#   make            build ./smolc
#   make check      build and run every test (tests/run.sh; JOBS=N at a time, default nproc)
#   make asan       build ./smolc-asan (ASan+UBSan); make check SAN=1 runs the tests with it
#   make test       everything CI runs (installs deps, tests normal + ASan, fuzz)
#   make deps       install the Debian packages the build and tests need
#   make install PREFIX=/usr/local   (smolc, lib/smolc/libsmolc-backend.so, the manual smolc.1, bash completion)
#   make doc        build/smolc.1 and build/smolc.bash only
#   make demo       build and boot examples/hello (the README's main command)

PREFIX  ?= /usr/local
CC      ?= cc
PKGS     = ext2fs fdisk libarchive libcurl yaml-0.1 libcrypto jansson zlib libzstd libelf liblzma
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcom_err
# ./smolc links only libc, libcrypto (digests), libyaml and jansson (the static
# archives when the -dev packages ship them: no shared object to load, which
# costs 2-3 ms per command for libcrypto.so), so that
# check/plan/run/ps start in a few ms; the modules that use the heavy
# libraries are linked, normally, into libsmolc-backend.so, which ./smolc
# dlopen()s on first use (cli/backend.h).
YAML_A    := $(shell $(CC) -print-file-name=libyaml.a 2>/dev/null)
JANSSON_A := $(shell $(CC) -print-file-name=libjansson.a 2>/dev/null)
CRYPTO_A  := $(shell $(CC) -print-file-name=libcrypto.a 2>/dev/null)
BIN_LIBS  := $(if $(filter /%,$(YAML_A)),$(YAML_A),$(shell pkg-config --libs yaml-0.1 2>/dev/null)) \
	     $(if $(filter /%,$(JANSSON_A)),$(JANSSON_A),-ljansson) \
	     $(if $(filter /%,$(CRYPTO_A)),$(CRYPTO_A) -lpthread,$(shell pkg-config --libs libcrypto 2>/dev/null)) -ldl
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
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(PKG_CFLAGS)
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
LIBSRCS = $(filter-out cli/main.c cli/backend.c,$(SRCS))
OBJS    = $(patsubst %.c,build/obj/%.o,$(LIBSRCS) $(GEN_C))
SANOBJS = $(patsubst %.c,build/san/%.o,$(LIBSRCS) $(GEN_C))
# The backend (cli/backend.h): the modules that include the headers of
# libcurl, libarchive, libext2fs, libfdisk, libelf, zlib, libzstd or liblzma
# (tests/include-check.sh checks that no other module does), and the
# commands that only they serve. ./smolc is main, the loader and the rest.
BACKEND_SRCS = compiler/capture.c compiler/elfdeps.c compiler/fetch_http.c compiler/image.c compiler/layer.c \
	compiler/layer_archive.c compiler/layer_blob.c compiler/layer_host.c compiler/pkg_summary.c \
	compiler/pkgdb.c oci/container.c oci/elfneeds.c oci/registry.c \
	cli/cmd_container.c cli/cmd_registry.c cli/regcache.c
FRONT_SRCS   = $(filter-out $(BACKEND_SRCS),$(LIBSRCS))
FRONT_OBJS   = $(patsubst %.c,build/obj/%.o,$(FRONT_SRCS) $(GEN_C))
FRONT_SAN    = $(patsubst %.c,build/san/%.o,$(FRONT_SRCS) $(GEN_C))
BACKEND_OBJS = $(patsubst %.c,build/obj/%.o,$(BACKEND_SRCS))
BACKEND_SAN  = $(patsubst %.c,build/san/%.o,$(BACKEND_SRCS))

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
UNIT_SAN  = $(patsubst tests/unit/%.c,build/tests-san/%,$(UNIT_SRCS))

.PHONY: all check asan deps install clean demo doc fuzz fuzzers unit bench test
.SECONDARY:
.DELETE_ON_ERROR:

all: smolc libsmolc-backend.so

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
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(call layer_inc,$*) $(EXTRA) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/san/build/gen/%.o: build/gen/%.c $(GEN_H) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(INC_build) $(GENWARN) $(SANFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/san/%.o: %.c $(GEN_H) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(call layer_inc,$*) $(SANFLAGS) $(EXTRA) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<

build/libsmolc.a: $(OBJS)
	@rm -f $@; ar rcs $@ $^
build/libsmolc-san.a: $(SANOBJS)
	@rm -f $@; ar rcs $@ $^

build/libsmolc-front.a: $(FRONT_OBJS)
	@rm -f $@; ar rcs $@ $^
build/libsmolc-front-san.a: $(FRONT_SAN)
	@rm -f $@; ar rcs $@ $^

# The boundary: the functions that code linked into ./smolc calls in the
# backend objects, read off the objects (a data symbol there is an error),
# and the stubs and the table generated for them from the headers.
build/gen/backend.list: build/obj/cli/main.o $(FRONT_OBJS) $(BACKEND_OBJS)
	@mkdir -p build/gen
	@nm --defined-only -g $(BACKEND_OBJS) | awk 'NF == 3 && $$2 ~ /^[TW]$$/ { print $$3 }' | sort -u >$@.def
	@nm --defined-only -g $(BACKEND_OBJS) | awk 'NF == 3 && $$2 ~ /^[DBRC]$$/ { print $$3 }' | sort -u >$@.data
	@nm -u build/obj/cli/main.o $(FRONT_OBJS) | awk 'NF == 2 { print $$2 }' | sort -u >$@.undef
	@d=$$(comm -12 $@.undef $@.data); if [ -n "$$d" ]; then \
	  echo "Makefile: code linked into ./smolc uses backend data: $$d; reach it through a function" >&2; exit 1; fi
	@comm -12 $@.undef $@.def >$@.tmp && mv $@.tmp $@ && rm -f $@.def $@.data $@.undef
build/gen/backend_gen.h build/gen/backend_tramp.c build/gen/backend_table.c &: build/gen/backend.list cli/backend-gen.pl $(HDRS)
	@echo '  GEN     backend boundary ('$$(wc -l <build/gen/backend.list)' functions)'
	@perl cli/backend-gen.pl build/gen/backend.list build/gen $(filter compiler/%.h oci/%.h cli/%.h,$(HDRS))
# both sides must come from one build (structs such as fstree's are defined
# in .c files and cross the boundary): the ABI digest covers every source,
# header and the compiler flags
build/gen/backend_abi.h: build/gen/backend_gen.h $(SRCS) $(HDRS) VERSION
	@{ echo '/* generated by the Makefile — do not edit */'; \
	  echo "#define SMOLC_BACKEND_ABI \"$$({ cat $(sort $(SRCS) $(HDRS)) build/gen/backend_gen.h VERSION; echo '$(CC) $(BASE_CFLAGS)'; } | sha256sum | cut -c1-16)\""; } >$@.tmp && mv $@.tmp $@
BACKEND_GEN = build/gen/backend_gen.h build/gen/backend_abi.h
build/obj/cli/backend.o build/san/cli/backend.o: $(BACKEND_GEN)
build/san/cli/backend.o: EXTRA = -DSMOLC_BACKEND_SO='"libsmolc-backend-asan.so"'
build/obj/backend/%.o: build/gen/%.c $(BACKEND_GEN) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(INC_cli) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<
build/san/backend/%.o: build/gen/%.c $(BACKEND_GEN) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(BASE_CFLAGS) $(INC_cli) $(SANFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -c -o $@ $<

# Only the table is exported (cli/backend.map); the backend keeps its own
# copy of the shared code it uses, bound to itself.
libsmolc-backend.so: build/obj/backend/backend_table.o $(BACKEND_OBJS) build/libsmolc.a cli/backend.map
	@echo '  LD      $@'; $(CC) $(CFLAGS) -shared -Wl,-z,defs -Wl,--version-script=cli/backend.map -o $@ \
	  build/obj/backend/backend_table.o $(BACKEND_OBJS) build/libsmolc.a $(PKG_LIBS)
libsmolc-backend-asan.so: build/san/backend/backend_table.o $(BACKEND_SAN) build/libsmolc-san.a cli/backend.map
	@echo '  LD      $@'; $(CC) $(CFLAGS) $(SANFLAGS) -shared -Wl,--version-script=cli/backend.map -o $@ \
	  build/san/backend/backend_table.o $(BACKEND_SAN) build/libsmolc-san.a $(PKG_LIBS)

BIN_OBJS = build/obj/cli/main.o build/obj/cli/backend.o build/obj/backend/backend_tramp.o build/libsmolc-front.a
BIN_SAN  = build/san/cli/main.o build/san/cli/backend.o build/san/backend/backend_tramp.o build/libsmolc-front-san.a
smolc: $(BIN_OBJS) | libsmolc-backend.so
	@echo '  LD      $@'; $(CC) $(CFLAGS) -o $@ $(BIN_OBJS) $(BIN_LIBS)
smolc-asan: $(BIN_SAN) | libsmolc-backend-asan.so
	@echo '  LD      $@'; $(CC) $(CFLAGS) $(SANFLAGS) -o $@ $(BIN_SAN) $(BIN_LIBS)
asan: smolc-asan

build/tests/%: tests/unit/%.c build/libsmolc.a
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) -o $@ $< build/libsmolc.a $(PKG_LIBS) -lcmocka
build/tests-san/%: tests/unit/%.c build/libsmolc-san.a
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) $(SANFLAGS) -o $@ $< build/libsmolc-san.a $(PKG_LIBS) -lcmocka

# test_backend links as ./smolc does: the stubs, the loader, the front
build/tests/test_backend: tests/unit/test_backend.c $(filter-out build/obj/cli/main.o,$(BIN_OBJS)) | libsmolc-backend.so
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -o $@ $< $(filter-out build/obj/cli/main.o,$(BIN_OBJS)) $(BIN_LIBS) -lcmocka
build/tests-san/test_backend: tests/unit/test_backend.c $(filter-out build/san/cli/main.o,$(BIN_SAN)) | libsmolc-backend-asan.so
	@mkdir -p $(dir $@)
	@echo '  CC      $<'; $(CC) $(ALL_CFLAGS) $(SANFLAGS) -DSMOLC_VERSION='"$(VERSION)"' -DSMOLC_BACKEND_SO='"libsmolc-backend-asan.so"' -o $@ $< \
	  $(filter-out build/san/cli/main.o,$(BIN_SAN)) $(BIN_LIBS) -lcmocka

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

install: smolc libsmolc-backend.so build/smolc.1 build/smolc.bash
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/smolc $(DESTDIR)$(PREFIX)/share/smolc $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 smolc $(DESTDIR)$(PREFIX)/bin/smolc
	install -m 0644 libsmolc-backend.so $(DESTDIR)$(PREFIX)/lib/smolc/libsmolc-backend.so
	install -m 0644 build/smolc.1 $(DESTDIR)$(PREFIX)/share/man/man1/smolc.1
	install -m 0644 build/smolc.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/smolc
	cp -R sets services $(DESTDIR)$(PREFIX)/share/smolc/

# deps first (tests/demo.sh installs them, then builds smolc)
demo:
	tests/demo.sh

bench:
	bench/run.sh

clean:
	rm -rf build smolc smolc-asan libsmolc-backend.so libsmolc-backend-asan.so
