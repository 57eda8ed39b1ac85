# DLUT build. One command builds (`make`), one command tests (`make test`).
#   make                  build/libdlut.a and build/dlut
#   make test             build and run every test (tests/run.sh)
#   make SANITIZE=1 test  the same under AddressSanitizer + UBSan, in build-san/
#   make bench            build the benchmarks in bench/
#   make fuzz             build the libFuzzer targets in fuzz/ (clang)
# Sources are found by globbing: a new src/**/*.c joins the library, a new
# tests/test_*.c becomes a test binary, a new bench/*.c a benchmark.

CC       ?= cc
ARCH     ?= -march=native
OPT      ?= -O2
SANITIZE ?=
CUDA     ?=

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       = -O1
else
BUILD    ?= build
SANFLAGS  =
endif

WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow=local -Wvla -Wno-format-truncation
CPPFLAGS = -Iinclude -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS  += -std=c11 $(OPT) -g $(ARCH) $(WARN) $(SANFLAGS) -fno-math-errno -pthread
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS   = -ljpeg -lpng -lwebp -lwebpmux -lwebpdemux -ltiff -llcms2 -lopenblas -lcjson -lutf8proc -lz -lm

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

.PHONY: all test bench fuzz clean format
all: $(BUILD)/dlut $(TEST_BINS)

$(BUILD)/libdlut.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dlut: $(CLI_OBJS) $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libdlut.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdlut.a $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libdlut.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdlut.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

test: all
	BUILD=$(BUILD) bash tests/run.sh

bench: $(BUILD)/dlut $(BENCH_BINS)

# libFuzzer targets: clang only, with ASan+UBSan; built against the library sources directly.
FUZZ_CC ?= clang
fuzz: $(FUZZ_BINS)
$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 $(ARCH) -Iinclude -Isrc -D_GNU_SOURCE -pthread \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) $(LDLIBS)

format:
	clang-format -i $$(find include src cli tests bench fuzz -name '*.[ch]')

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
