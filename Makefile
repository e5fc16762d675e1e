# fastalloc — build the tests, examples and benchmarks. Plain make; see README.md.
#   make test         every test suite (gcc, clang, ASan+UBSan, TSan, debug, secure, stats, huge pages, valgrind, C++, region builds
#                     without an OS and on a hosted region, freestanding check, Cortex-M4 under QEMU,
#                     LD_PRELOAD on real programs, -m32, AArch64 (4 and 64 KiB pages), RISC-V and
#                     32-bit Arm under qemu-user, a benchmark smoke pass), one total line
#   make test-cross   every cross target (tests/cross/README.md)
#   make fuzz         the fuzzers with random seeds, SECONDS=N each (default 60)
#   make test-embedded the region-mode suites on an emulated Cortex-M4 (QEMU mps2-an386)
#   make bench        the hyperfine suite against glibc, mimalloc, jemalloc, tcmalloc (QUICK=1: smoke run),
#                     then the per-frame heap benchmark (bench/frame.sh)
#   make bench-heap   only the per-frame heap benchmark: reset / destroy / free each, vs the peers
#   make bench-instr  instructions per operation under callgrind
#   make bench-secure the cost of FASTALLOC_SECURE on the suite's workloads, then on python3, sqlite3
#                     and lua5.4 with libfastalloc.so / libfastalloc-secure.so preloaded (bench/results/secure.md)
#   make lib          build/lib/libfastalloc.so and .a (LD_PRELOAD drop-in)
#   make examples     build examples/
#   make clean

CC       ?= gcc
CLANG    ?= clang
CXX      ?= g++
BUILD    ?= build
WARN     := -Wall -Wextra -Werror
CSTD     := -std=c11
BASE     := $(CSTD) -g -pthread $(WARN) -I. -Itests
SAN      := -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(notdir $(TEST_SRC:.c=))
HEADER   := fastalloc.h tests/harness.h

# Variant name -> compiler and flags. Each builds every tests/test_*.c into $(BUILD)/<variant>/.
V_gcc_CC     = gcc
V_gcc_FLAGS  = -O2 $(BASE)
V_clang_CC   = $(CLANG)
V_clang_FLAGS= -O2 $(BASE)
V_asan_CC    = gcc
V_asan_FLAGS = $(BASE) $(SAN) -fsanitize=address,undefined
V_tsan_CC    = gcc
V_tsan_FLAGS = $(BASE) $(SAN) -fsanitize=thread
V_debug_CC   = gcc
V_debug_FLAGS= -O1 $(BASE) -DFASTALLOC_DEBUG
# FASTALLOC_SECURE: hardened free lists, O(1) double-free and foreign-pointer aborts (fastalloc.h)
V_secure_CC   = gcc
V_secure_FLAGS= -O2 $(BASE) -DFASTALLOC_SECURE
# FASTALLOC_GUARD_SAMPLE (sampled guard pages, >>guard in fastalloc.h): at rate 1 every eligible
# allocation that reaches the slow path is sampled (up to 1024 live), so the shadow-model suites
# run over sampled blocks; at rate 64 test_guard checks the rate seen. The secure build checks huge
# blocks' guards. test_api, test_zero, test_heap, test_defects and test_visit also assert where
# blocks land (realloc in place, reuse, page counts, bytes mapped), which sampling changes by
# design, so they are not in the list.
V_guard_CC     = gcc
V_guard_FLAGS  = -O2 $(BASE) -DFASTALLOC_GUARD_SAMPLE=1
GUARD_TESTS   := test_guard test_fuzz test_threads test_hooks
V_guard64_CC   = gcc
V_guard64_FLAGS= -O2 $(BASE) -DFASTALLOC_GUARD_SAMPLE=64
GUARD64_TESTS := test_guard
V_stats_CC   = gcc
V_stats_FLAGS= -O2 $(BASE) -DFASTALLOC_STATS
# FASTALLOC_HUGE_PAGES (default: huge pages from 32 MiB mapped): the thp build asks from the first
# segment, so every suite runs over memory advised MADV_HUGEPAGE; nothp never asks (test_hugepages
# checks the advice through /proc/self/smaps in each build). The thp build also keeps page
# descriptors on one cache line (FASTALLOC_PAGE_LINES=1; two is the default of 64-bit builds with
# threads), so every threaded suite runs over both layouts.
V_thp_CC     = gcc
V_thp_FLAGS  = -O2 $(BASE) -DFASTALLOC_HUGE_PAGES=0 -DFASTALLOC_PAGE_LINES=1
V_nothp_CC   = gcc
V_nothp_FLAGS= -O2 $(BASE) -DFASTALLOC_HUGE_PAGES=-1
NOTHP_TESTS := test_hugepages
# Region builds: no OS at all (FASTALLOC_NO_OS, hence single-threaded); tests/harness.h gives each
# suite a misaligned static region. Only the suites that need no threads and no OS run there; the
# ASan+UBSan one also counts bytes zeroed and copied (FASTALLOC_STATS), so the zero suite checks them.
V_region_CC     = gcc
V_region_FLAGS  = -O2 $(BASE) -DFASTALLOC_NO_OS
V_regasan_CC    = gcc
V_regasan_FLAGS = $(BASE) $(SAN) -fsanitize=address,undefined -DFASTALLOC_NO_OS -DFASTALLOC_STATS
REGION_TESTS := test_api test_sizes test_zero test_region test_heap test_lock test_check test_fuzz test_defects test_anywhere
# Hosted region build: an OS and threads, but every heap draws from one misaligned static region
# (fa_init_region; HARNESS_REGION in tests/harness.h).
V_hregion_CC    = gcc
V_hregion_FLAGS = -O2 $(BASE) -DHARNESS_REGION
HREGION_TESTS := test_api test_zero test_anywhere test_check
# Valgrind's memcheck, told what fastalloc does (FASTALLOC_VALGRIND): test_corrupt runs each misuse
# under valgrind itself, and every other suite runs whole under it (VG_CMD, FA_TEST_QUICK=1; any
# memcheck error fails it; --trace-children: test_region re-runs itself; --fair-sched: threads).
# Under valgrind test_oom skips only its RLIMIT_AS part (the cap would hold valgrind's own memory).
# The asan build of every suite already runs with fastalloc's AddressSanitizer annotations.
# Beyond the suites, make test runs under both tools (README, Memory tools): the LD_PRELOAD C
# programs, Lua and Python under memcheck with libfastalloc-valgrind.so preloaded, and the C
# programs with ASan and fastalloc compiled in (tests/preload/tools.sh: a preloaded malloc cannot
# run under ASan); and the benchmark smoke pass (bench/suite.sh QUICK=1) under memcheck
# (bench-valgrind) and with ASan+UBSan builds (bench-asan).
V_valgrind_CC    = gcc
V_valgrind_FLAGS = -O1 $(BASE) -DFASTALLOC_VALGRIND
VALGRIND_RUN   := $(filter-out test_corrupt,$(TEST_BIN))
VALGRIND_TESTS := $(TEST_BIN)
VG_CMD         := valgrind -q --error-exitcode=1 --fair-sched=yes --trace-children=yes
VG_PRELOAD     := valgrind -q --error-exitcode=1 --fair-sched=yes --soname-synonyms=somalloc=nouserintercepts
HAVE_VALGRIND   = $(shell command -v valgrind >/dev/null 2>&1 && test -f /usr/include/valgrind/memcheck.h && echo yes)

HAVE_CLANG := $(shell command -v $(CLANG) >/dev/null 2>&1 && echo yes)
HAVE_CXX   := $(shell command -v $(CXX) >/dev/null 2>&1 && echo yes)
VARIANTS   := gcc $(if $(HAVE_CLANG),clang) asan tsan debug secure stats thp
REGION_VARIANTS := region regasan
TEST_DIRS  := $(addprefix $(BUILD)/,$(VARIANTS) $(REGION_VARIANTS) hregion) $(if $(HAVE_CXX),$(BUILD)/cpp)
# Cross targets (tests/cross/README.md), all run by make test: other CPUs and word sizes under
# qemu-user and -m32, Windows (MinGW 64/32-bit, clang-cl in MSVC mode) under Wine, wasm32-wasi
# under node, and the portable POSIX backend (what macOS and the BSDs build) on this machine.
CROSS_TARGETS := m32 aarch64 aarch64-64k riscv64 armhf posix-portable posix-portable-asan mingw64 mingw32 clang-cl wasm32

.PHONY: all test test-deps test-build test-embedded test-cross fuzz examples bench bench-instr lib clean

all: test-build examples

# test-deps installs what the suites need (clang, g++) with apt-get when it can; the second make
# re-reads which compilers exist, so a suite is skipped only when it truly cannot be built.
test: test-deps
	@$(MAKE) --no-print-directory -j$$(nproc 2>/dev/null || echo 2) test-build
	@$(if $(shell command -v $(CLANG) >/dev/null 2>&1 && echo yes),,echo "SKIPPED: clang suite (clang not installed; apt-get install clang)";)
	@$(if $(HAVE_VALGRIND),,echo "SKIPPED: valgrind suites: the test suites and the preload programs and the benchmark smoke pass under memcheck (valgrind not installed; apt-get install valgrind)";)
	@FA_TEST_TIMEOUT=$${FA_TEST_TIMEOUT:-600} bash tests/run.sh $(addprefix $(BUILD)/,gcc $(if $(shell command -v $(CLANG) >/dev/null 2>&1 && echo yes),clang) asan tsan debug secure stats thp $(REGION_VARIANTS) hregion) \
	    $(addprefix $(BUILD)/guard/,$(GUARD_TESTS)) $(addprefix $(BUILD)/guard64/,$(GUARD64_TESTS)) \
	    $(addprefix $(BUILD)/nothp/,$(NOTHP_TESTS)) \
	    $(if $(shell command -v $(CXX) >/dev/null 2>&1 && echo yes),$(BUILD)/cpp) \
	    $(if $(HAVE_VALGRIND),$(BUILD)/valgrind/test_corrupt $(foreach t,$(VALGRIND_RUN),"FA_TEST_QUICK=1 $(VG_CMD) $(BUILD)/valgrind/$(t)")) \
	    "bash tests/freestanding.sh $(abspath $(BUILD)/freestanding)" \
	    "bash tests/embedded/run.sh $(abspath $(BUILD)/embedded)" \
	    "bash tests/preload/run.sh $(abspath $(BUILD)/lib/libfastalloc.so) $(abspath $(BUILD)/preload)" \
	    $(if $(HAVE_VALGRIND),"bash tests/preload/tools.sh valgrind $(abspath $(BUILD)/lib/libfastalloc-valgrind.so) $(abspath $(BUILD)/preload-valgrind)") \
	    "bash tests/preload/tools.sh asan $(abspath $(BUILD)/preload-asan)" \
	    "QUICK=1 bash bench/suite.sh $(BUILD)/bench" \
	    "QUICK=1 ALLOCATORS='glibc fa-compiled' TIMEOUT=300 bash bench/suite.sh $(BUILD)/bench-asan" \
	    $(if $(HAVE_VALGRIND),"QUICK=1 ALLOCATORS='fa-compiled fa-preload' FASTALLOC_SO=$(BUILD)/lib/libfastalloc-valgrind.so TIMEOUT=300 RUNNER='$(VG_PRELOAD)' bash bench/suite.sh $(BUILD)/bench-valgrind") \
	    "QUICK=1 bash bench/frame.sh $(BUILD)/bench" \
	    "bash examples/run.sh $(abspath $(BUILD)/examples)" \
	    "bash examples/integrations.sh $(abspath $(BUILD)/integrations)" \
	    $(foreach t,$(CROSS_TARGETS),"bash tests/cross/run.sh $(t) $(abspath $(BUILD)/cross/$(t))")

# make test-cross: only the cross targets
test-cross:
	@FA_CROSS_TARGETS="$(CROSS_TARGETS)" bash tests/cross/all.sh $(abspath $(BUILD)/cross)

# make fuzz [SECONDS=N]: the fuzzers with random seeds for N seconds each (default 60)
SECONDS ?= 60
FUZZ_BIN := $(BUILD)/gcc/test_fuzz $(BUILD)/asan/test_fuzz $(BUILD)/region/test_fuzz \
            $(BUILD)/gcc/test_fuzz_mt $(BUILD)/tsan/test_fuzz_mt
fuzz: $(FUZZ_BIN)
	@FA_TEST_TIMEOUT=$$(( $(SECONDS) + 300 )) bash tests/run.sh $(foreach b,$(FUZZ_BIN),"$(b) --seconds $(SECONDS)")

test-deps:
	@bash tests/deps.sh

test-build: $(foreach v,$(VARIANTS),$(addprefix $(BUILD)/$(v)/,$(TEST_BIN))) \
            $(foreach v,$(REGION_VARIANTS),$(addprefix $(BUILD)/$(v)/,$(REGION_TESTS))) \
            $(addprefix $(BUILD)/hregion/,$(HREGION_TESTS)) \
            $(addprefix $(BUILD)/guard/,$(GUARD_TESTS)) $(addprefix $(BUILD)/guard64/,$(GUARD64_TESTS)) \
            $(addprefix $(BUILD)/nothp/,$(NOTHP_TESTS)) \
            $(if $(HAVE_VALGRIND),$(addprefix $(BUILD)/valgrind/,$(VALGRIND_TESTS))) \
            $(if $(HAVE_CXX),$(BUILD)/cpp/cpp_test) bench-build bench-tools-build examples lib

define VARIANT_RULE
$(BUILD)/$(1)/%: tests/%.c $(HEADER)
	@mkdir -p $$(@D)
	$$(V_$(1)_CC) $$(V_$(1)_FLAGS) $$< -o $$@
endef
$(foreach v,gcc clang asan tsan debug secure stats thp nothp $(REGION_VARIANTS) hregion valgrind guard guard64,$(eval $(call VARIANT_RULE,$(v))))

# The region-mode suites on an emulated Cortex-M4 (arm-none-eabi-gcc, newlib, QEMU mps2-an386);
# tests/embedded/run.sh builds the images, runs them and installs the toolchain when it may.
test-embedded:
	@bash tests/run.sh "bash tests/embedded/run.sh $(abspath $(BUILD)/embedded)"

$(BUILD)/cpp/cpp_test: tests/cpp_impl.cpp tests/cpp_user.cpp $(HEADER)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -pthread $(WARN) -I. -Itests tests/cpp_impl.cpp tests/cpp_user.cpp -o $@

# ---- libfastalloc: the drop-in malloc (LD_PRELOAD=build/lib/libfastalloc.so program) -----------
LIB_SRC := examples/override/libfastalloc.c
lib: $(BUILD)/lib/libfastalloc.so $(BUILD)/lib/libfastalloc.a
$(BUILD)/lib/libfastalloc.so: $(LIB_SRC) fastalloc.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g -pthread $(WARN) -fPIC -shared $< -o $@
# The same library for memcheck (FASTALLOC_VALGRIND): preloaded under valgrind in make test
$(BUILD)/lib/libfastalloc-valgrind.so: $(LIB_SRC) fastalloc.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g -pthread $(WARN) -fPIC -shared -DFASTALLOC_VALGRIND $< -o $@
# The same library with FASTALLOC_SECURE: preloaded against libfastalloc.so in make bench-secure
$(BUILD)/lib/libfastalloc-secure.so: $(LIB_SRC) fastalloc.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g -pthread $(WARN) -fPIC -shared -DFASTALLOC_SECURE $< -o $@
$(BUILD)/lib/libfastalloc.o: $(LIB_SRC) fastalloc.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g -pthread $(WARN) -fPIC -c $< -o $@
$(BUILD)/lib/libfastalloc.a: $(BUILD)/lib/libfastalloc.o
	ar rcs $@ $<

# ---- examples ------------------------------------------------------------------------------------
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(addprefix $(BUILD)/examples/,$(notdir $(EXAMPLE_SRC:.c=)))
examples: $(EXAMPLE_BIN)
$(BUILD)/examples/%: examples/%.c fastalloc.h
	@mkdir -p $(@D)
	$(CC) -O2 $(BASE) $< -o $@
# make integrations: fastalloc inside Lua 5.4, SQLite, stb_ds, C++ containers (std::pmr and
# fa::allocator<T>) and a job system, built and checked (examples/integrations.sh; needs liblua5.4-dev,
# libsqlite3-dev, libstb-dev); make integrations-bench: the same, then one hyperfine run per example
.PHONY: integrations integrations-bench
integrations:
	@bash examples/integrations.sh $(BUILD)/integrations
integrations-bench:
	@bash examples/integrations.sh --bench $(BUILD)/integrations

# ---- benchmarks ----------------------------------------------------------------------------------
# Every bench/*.c is built twice from the same source: with fastalloc compiled in (_fa) and against
# the system allocator (_sys); libfastalloc.so (make lib) and the peers are preloaded into _sys
# (bench/peers.sh: Debian's mimalloc, jemalloc, tcmalloc; mimalloc 3, rpmalloc 2, snmalloc from
# MIMALLOC3_SO, RPMALLOC2_SO, SNMALLOC_SO or ../shared/peers/ when there, else skipped).
# The suite's workload programs (bench/w_*.c) also get two fastalloc ablation builds:
# _fa_retire0 (FASTALLOC_RETIRE_CYCLES=0) and _fa_notrack (FASTALLOC_ZERO_TRACKING=0).
#   make bench             the suite (bench/suite.sh): bench/results/latest.md and latest.png
#   make bench QUICK=1     a smoke run of every workload x allocator (tiny N), ends "N passed, N failed"
#   make bench-instr       instructions per operation under callgrind: bench/results/instr.md, and
#                          for bench/micro.c bench/results/instr-micro.md (bench/instr.sh)
#   make bench-micro       the first micro-benchmark (bench/run.sh on bench/micro.c): bench/results/micro/
BENCH_SRC := $(wildcard bench/*.c)
SUITE_SRC := $(wildcard bench/w_*.c)
BENCH_BIN := $(foreach b,$(notdir $(BENCH_SRC:.c=)),$(BUILD)/bench/$(b)_fa $(BUILD)/bench/$(b)_sys) \
             $(foreach b,$(notdir $(SUITE_SRC:.c=)),$(BUILD)/bench/$(b)_fa_retire0 $(BUILD)/bench/$(b)_fa_notrack)
# Every function starts on a 64-byte line, so a workload's loops sit at the same offsets in its
# compiled-in (_fa) and system (_sys) builds: realloc-vector's push loop straddled two fetch lines
# in w_zero_sys alone and ran 1.7-2x slower there under every allocator, glibc included.
BENCH_FLAGS := -O2 -DNDEBUG -g -pthread -falign-functions=64 $(WARN) -I.
BENCH_DEPS  := bench/common.h
BENCH_LIB   := $(BUILD)/lib/libfastalloc.so
.PHONY: bench-build bench-micro bench-heap
bench-build: $(BENCH_BIN)
$(BUILD)/bench/%_fa: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_FLAGS) -DBENCH_FASTALLOC $< -o $@
$(BUILD)/bench/%_fa_retire0: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_RETIRE_CYCLES=0 $< -o $@
$(BUILD)/bench/%_fa_notrack: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_ZERO_TRACKING=0 $< -o $@
$(BUILD)/bench/%_sys: bench/%.c $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_FLAGS) $< -o $@

# make bench-secure: the cost of FASTALLOC_SECURE, default against secure build of every workload
# (bench/secure.sh, DIV=N: the suite's N / N, default 4), then real programs (python3, sqlite3,
# lua5.4, each skipped when missing; PROGRAMS=0: none) with libfastalloc.so against
# libfastalloc-secure.so preloaded: bench/results/secure.md
SECURE_BIN := $(foreach b,$(notdir $(BENCH_SRC:.c=)),$(BUILD)/bench-secure/$(b)_fa)
$(BUILD)/bench-secure/%_fa: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_SECURE $< -o $@
.PHONY: bench-secure
bench-secure: bench-build $(SECURE_BIN) $(BUILD)/lib/libfastalloc.so $(BUILD)/lib/libfastalloc-secure.so
	@FASTALLOC_SO=$(BUILD)/lib/libfastalloc.so FASTALLOC_SECURE_SO=$(BUILD)/lib/libfastalloc-secure.so \
	    bash bench/secure.sh $(BUILD)/bench $(BUILD)/bench-secure

# The smoke pass under the memory tools (make test): the suite's workload programs built with
# ASan+UBSan (bench-asan: fastalloc compiled in, _fa and the ablations, each checked against the
# checksum of _sys, a plain build here, as ASan's own malloc would only test ASan; a preloaded
# allocator cannot run under ASan, whose runtime is the malloc there) and for memcheck
# (bench-valgrind: _fa with FASTALLOC_VALGRIND; libfastalloc-valgrind.so preloaded into _sys).
TOOL_BENCH_FLAGS := -O1 -g -pthread $(WARN) -I.
TOOL_BENCH_BIN := $(foreach d,bench-asan $(if $(HAVE_VALGRIND),bench-valgrind),$(foreach b,$(notdir $(SUITE_SRC:.c=)),\
                      $(foreach k,fa sys fa_retire0 fa_notrack,$(BUILD)/$(d)/$(b)_$(k))))
.PHONY: bench-tools-build
bench-tools-build: $(TOOL_BENCH_BIN) $(if $(HAVE_VALGRIND),$(BUILD)/lib/libfastalloc-valgrind.so)
$(BUILD)/bench-asan/%_fa: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) $(SAN) -fsanitize=address,undefined -DBENCH_FASTALLOC $< -o $@
$(BUILD)/bench-asan/%_fa_retire0: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) $(SAN) -fsanitize=address,undefined -DBENCH_FASTALLOC -DFASTALLOC_RETIRE_CYCLES=0 $< -o $@
$(BUILD)/bench-asan/%_fa_notrack: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) $(SAN) -fsanitize=address,undefined -DBENCH_FASTALLOC -DFASTALLOC_ZERO_TRACKING=0 $< -o $@
$(BUILD)/bench-asan/%_sys: bench/%.c $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) $< -o $@
$(BUILD)/bench-valgrind/%_fa: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_VALGRIND $< -o $@
$(BUILD)/bench-valgrind/%_fa_retire0: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_VALGRIND -DFASTALLOC_RETIRE_CYCLES=0 $< -o $@
$(BUILD)/bench-valgrind/%_fa_notrack: bench/%.c fastalloc.h $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) -DBENCH_FASTALLOC -DFASTALLOC_VALGRIND -DFASTALLOC_ZERO_TRACKING=0 $< -o $@
$(BUILD)/bench-valgrind/%_sys: bench/%.c $(BENCH_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_BENCH_FLAGS) $< -o $@

bench: bench-build $(BENCH_LIB)
	@QUICK=$(QUICK) bash bench/suite.sh $(BUILD)/bench
	@QUICK=$(QUICK) bash bench/frame.sh $(BUILD)/bench

bench-heap: bench-build $(BENCH_LIB)
	@bash bench/frame.sh $(BUILD)/bench

bench-instr: bench-build $(BENCH_LIB)
	@bash bench/suite_instr.sh $(BUILD)/bench
	@OUT=bench/results/instr-micro.md bash bench/instr.sh $(BUILD)/bench/micro_fa $(BUILD)/bench/micro_sys

bench-micro: bench-build $(BENCH_LIB)
	@bash bench/run.sh $(BUILD)/bench/micro_fa $(BUILD)/bench/micro_sys

clean:
	rm -rf $(BUILD)
