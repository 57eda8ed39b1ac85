# DLUT build. One command builds (`make`), one command tests (`make test`).
#   make                  build/libdlut.a and build/dlut
#   make test             build and run every test (tests/run.sh)
#   make SANITIZE=1 test  the same under AddressSanitizer + UBSan, in build-san/
#   make bench            build the benchmarks in bench/
#   make fuzz             build the libFuzzer targets in fuzz/ (clang)
#   make format-check     clang-format (.clang-format) finds nothing to change
# Sources are found by globbing: a new src/**/*.c joins the library, a new
# tests/test_*.c becomes a test binary, a new bench/*.c a benchmark.

CC       ?= cc
ARCH     ?= -march=native
OPT      ?= -O2
SANITIZE ?=
CUDA     ?=

ifeq ($(FUZZ),1)
# Library objects instrumented for libFuzzer (clang), used by `make fuzz`.
CC        = clang
BUILD    ?= build-fuzz
SANFLAGS  = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       = -O1
else ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       = -O1
else
BUILD    ?= build
SANFLAGS  =
endif

ifeq ($(FUZZ),1)
WARN     = -Wall -Wno-unused-parameter
else
WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow=local -Wvla -Wno-format-truncation
endif
CPPFLAGS = -Iinclude -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS  += -std=c11 $(OPT) -g $(ARCH) $(WARN) $(SANFLAGS) -fno-math-errno -pthread
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS   = -lmicrohttpd -lsqlite3 -lhiredis -ljpeg -lpng -lwebp -lwebpmux -lwebpdemux -ltiff -llcms2 -lopenblas -lcjson -lutf8proc -lavformat -lavcodec -lswscale -lavutil -lz -lm

LIB_SRCS   := $(shell find src -name '*.c' -not -path '*/cuda/*' | sort)
CLI_SRCS   := $(sort $(wildcard cli/*.c))
TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
FUZZ_SRCS  := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_BINS:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all test bench fuzz fuzz-targets clean format format-check
.SECONDARY:
all: $(BUILD)/dlut $(TEST_BINS) $(BUILD)/tests/dlut-allocfail

$(BUILD)/libdlut.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dlut: $(CLI_OBJS) $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libdlut.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdlut.a $(LDLIBS)

# dlut with allocation-failure injection in its own code (tests/t_alloc_fail.sh)
$(BUILD)/tests/dlut-allocfail: $(CLI_OBJS) $(BUILD)/tests/tools/wrap_alloc.o $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/tests/tools/wrap_alloc.o $(BUILD)/libdlut.a \
	  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup $(LDLIBS)

# a test that counts DLUT's own allocations (tests/tools/wrap_alloc.c, as above)
$(BUILD)/tests/test_grade_step_alloc: $(BUILD)/tests/test_grade_step_alloc.o $(BUILD)/tests/tools/wrap_alloc.o \
  $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/tests/tools/wrap_alloc.o $(BUILD)/libdlut.a \
	  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdlut.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# the page is embedded with .incbin (src/server/assets.c)
$(BUILD)/src/server/assets.o: $(wildcard web/*)

test: all
	BUILD=$(BUILD) bash tests/run.sh

bench: $(BUILD)/dlut $(BENCH_BINS)

# libFuzzer targets (clang): the library is rebuilt instrumented in build-fuzz/
# (or $(BUILD) when given), each fuzz/fuzz_*.c links against it.
fuzz:
	$(MAKE) FUZZ=1 BUILD=$(if $(filter command line,$(origin BUILD)),$(BUILD),build-fuzz) fuzz-targets
fuzz-targets: $(FUZZ_BINS)
$(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/libdlut.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 -g -O1 $(ARCH) -pthread -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined \
	  -o $@ $< $(BUILD)/libdlut.a $(LDLIBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
