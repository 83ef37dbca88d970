# dunnd — one hand-written Makefile (style.md §11).
#
#   make            dunnd, dunnctl and libdunnd.a in build/
#   make test       unit tests, then integration tests on the real binaries
#   make asan       the same suite built with ASan+UBSan in build-asan/
#   make valgrind   the suite's binaries under valgrind (0 errors, 0 lost)
#   make deps       apt-get what is missing (as root, or with sudo)
#   make run        deps, build, then dunnd in the foreground on ./dunnd.conf
#   make install    binaries, man pages, units, /etc/dunnd (PREFIX, DESTDIR)
#   make bench      benchmarks printing figures against ../shared targets
#                   (scale: DUNND_BENCH_ACCOUNTS, see the bench target)
#   make crashtest  kill -9 and power cuts (tests/fault/vfs.c) at seeded
#                   moments of ingest, clock jumps, reloads and acks
#                   (CRASH_SCALE times make test's, CRASH_SEED), and the
#                   N-th write, sync or allocation failing (tests/fault)
#   make crashtest-selftest  those drivers against planted bugs
#   make soak       R9: steady load for SOAK_SECONDS, RSS/fds/WAL/p99 a minute
#   make load       R11: 256 concurrent clients for LOAD_SECONDS
#   make fuzz       libFuzzer targets (clang) for events, rules, requests,
#                   FUZZ_SECONDS each (default 60)

CC	?= cc
B	?= build
PKGS	 = sqlite3 libconfig libsystemd jansson libsodium
CFLAGS	?= -O2 -g
WFLAGS	 = -std=c11 -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	   -Wstrict-prototypes -fno-strict-aliasing
ALL_CPPFLAGS = -D_GNU_SOURCE -Iinclude $(shell pkg-config --cflags $(PKGS) $(PUSHPKGS))
ALL_CFLAGS   = $(WFLAGS) $(CFLAGS) $(CPPFLAGS) $(ALL_CPPFLAGS)
LIBS	 = $(shell pkg-config --libs $(PKGS)) -lev -lm -pthread
# dunnd-push alone talks HTTP and signs: dunnd itself links neither.
PUSHPKGS = libcurl libsodium
PUSHLIBS = $(shell pkg-config --libs $(PUSHPKGS))
TESTLIBS = $(shell pkg-config --libs cmocka)

SRCS	 = $(wildcard daemon/*.c)
MAINS	 = daemon/dunnd.c daemon/dunnctl.c daemon/dunnd_push.c
LIBOBJS	 = $(patsubst daemon/%.c,$(B)/%.o,$(filter-out $(MAINS),$(SRCS)))
UNITSRC	 = $(wildcard tests/unit/test_*.c)
UNITS	 = $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNITSRC))
BENCHSRC = $(wildcard bench/*.c)
BENCHES	 = $(patsubst bench/%.c,$(B)/bench/%,$(BENCHSRC))

.PHONY: all test unit integration smoke asan valgrind deps test-deps run bench clean format \
	fuzz crashtest crashtest-selftest soak load install uninstall

all: $(B)/dunnd $(B)/dunnctl $(B)/dunnd-push $(B)/libdunnd.a

$(B)/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libdunnd.a: $(LIBOBJS)
	rm -f $@
	ar rcs $@ $^

$(B)/dunnd: $(B)/dunnd.o $(B)/libdunnd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(B)/dunnctl: $(B)/dunnctl.o $(B)/libdunnd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(B)/dunnd-push: $(B)/dunnd_push.o $(B)/libdunnd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(PUSHLIBS)

$(B)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/tests/%: $(B)/tests/%.o $(B)/libdunnd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(TESTLIBS)

# The push modules' tests need what dunnd-push links.
$(B)/tests/test_push: $(B)/tests/test_push.o $(B)/libdunnd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(PUSHLIBS) $(TESTLIBS)

$(B)/bench/%: bench/%.c $(B)/libdunnd.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

-include $(wildcard $(B)/*.d $(B)/tests/*.d)

# Unit tests run from the checkout: some read fixtures under tests/.
unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $(RUNNER) $$t; done

# The disk-full tests' LD_PRELOAD shim (never linked into dunnd; plain
# flags: it must not need a sanitizer runtime).
$(B)/tests/libenospc.so: tests/fault/enospc.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O1 -g -Wall -Wextra -Werror -o $@ $< -ldl

# The power-loss and fault-injection SQLite VFS shim (tests/fault/vfs.c;
# LD_PRELOADed by the tests, never linked into dunnd).
$(B)/tests/libfaultvfs.so: tests/fault/vfs.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O1 -g -Wall -Wextra -Werror $(shell pkg-config --cflags sqlite3) \
	    -o $@ $< $(shell pkg-config --libs sqlite3) -pthread

# The threads' hold shim (tests/fault/hold.c; LD_PRELOADed by the
# tests of report kpi's thread, never linked into dunnd).
$(B)/tests/libhold.so: tests/fault/hold.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O1 -g -Wall -Wextra -Werror -o $@ $< -ldl -pthread

SHIMS	 = $(B)/tests/libenospc.so $(B)/tests/libfaultvfs.so $(B)/tests/libhold.so

# Integration tests start the real dunnd in temporary directories.
integration: all $(SHIMS)
	@python3 tests/integration/run.py --build $(B)

# The contract smoke test lives outside the repository; run it when present.
smoke: all
	@if [ -f ../shared/checks/smoke.py ]; then \
	    python3 ../shared/checks/smoke.py $(CURDIR) ; \
	else echo "smoke: ../shared/checks/smoke.py not present, skipped"; fi

# make test installs what it needs first (tools/deps.sh test): on a bare
# Debian 12 the README's two lines are all it takes.
test: test-deps
	$(MAKE) all unit integration smoke

# R1 at length: test_crash.py with CRASH_SCALE times its kills (with 5:
# 60 during ingest, 30 during clock jumps, 20 during reloads) at moments
# drawn from CRASH_SEED (default: now; printed, to repeat a run).
CRASH_SCALE ?= 5
CRASH_SEED ?= $(shell date +%s)
# Then test_powerloss.py with CRASH_SCALE x 40 power cuts (make test: 20)
# and test_faults.py with CRASH_SCALE x 40 injected faults (make test: 12).
crashtest: all $(SHIMS)
	@echo "crashtest: CRASH_SEED=$(CRASH_SEED) CRASH_SCALE=$(CRASH_SCALE)"
	DUNND_CRASH_SCALE=$(CRASH_SCALE) DUNND_CRASH_SEED=$(CRASH_SEED) \
	DUNND_CRASH_FIGURES=1 python3 tests/integration/run.py --build $(B) \
	    test_crash.py
	DUNND_POWERLOSS_CUTS=$$(( $(CRASH_SCALE) * 40 )) \
	DUNND_CRASH_SEED=$(CRASH_SEED) DUNND_CRASH_FIGURES=1 \
	python3 tests/integration/run.py --build $(B) test_powerloss.py
	DUNND_FAULT_RUNS=$$(( $(CRASH_SCALE) * 40 )) \
	DUNND_CRASH_SEED=$(CRASH_SEED) DUNND_CRASH_FIGURES=1 \
	python3 tests/integration/run.py --build $(B) test_faults.py

# The drivers must catch planted durability bugs: each is built from an
# edited copy of the source in build-selftest/BUG/ (tests/selftest/plant.py
# lists them); exits 1 if a driver misses one.
crashtest-selftest:
	python3 tests/selftest/plant.py

asan:
	$(MAKE) B=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" unit integration

VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
	   --errors-for-leak-kinds=definite --track-fds=no
valgrind:
	$(MAKE) B=build-valgrind CFLAGS="-O1 -g" unit RUNNER="$(VALGRIND)"
	$(MAKE) B=build-valgrind CFLAGS="-O1 -g" integration \
	    DUNND_WRAPPER="$(VALGRIND)"

# Scale: DUNND_BENCH_ACCOUNTS (default 100000; the reference portfolio is
# 1000000), DUNND_BENCH_RUNS (ingest runs, default 3), DUNND_BENCH_DIR
# (where the databases go; default TMPDIR).
# where.py's WAL page shim (bench/shim/walpages.c; LD_PRELOADed, never
# linked into dunnd).
$(B)/bench/libwalpages.so: bench/shim/walpages.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O1 -g -Wall -Wextra -Werror $(shell pkg-config --cflags sqlite3) \
	    -o $@ $< $(shell pkg-config --libs sqlite3) -pthread

bench: all $(BENCHES) $(B)/bench/libwalpages.so
	@set -e; for b in $(filter-out %/bench_mem,$(BENCHES)); do \
	    echo "== $$b"; $$b; done
	@echo "== bench/bench_calendar.py"; python3 bench/bench_calendar.py --build $(B)
	@echo "== bench/bench_ingest.py"; python3 bench/bench_ingest.py --build $(B)
	@echo "== bench/bench_kpi.py"; python3 bench/bench_kpi.py --build $(B)
	@echo "== bench/bench_push.py"; python3 bench/bench_push.py --build $(B)

# Fuzzing (targets.md R3): clang's libFuzzer with ASan+UBSan, the library
# built with coverage in build-fuzz/.  Seeds: the test corpus's lines,
# the shipped rules, fuzz/protocol.seeds; what the fuzzer finds stays in
# build-fuzz/corpus-*, a crash in build-fuzz/crash-* (make fails).
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	     -fno-sanitize-recover=all
FUZZERS	 = $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/fuzz_*.c))

build-fuzz/fuzz_%: fuzz/fuzz_%.c build-fuzz/libdunnd.a
	clang $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer $(ALL_CPPFLAGS) \
	    -o $@ $^ $(LIBS)

ifneq ($(B),build-fuzz)
build-fuzz/libdunnd.a: $(SRCS) $(wildcard include/*.h)
	$(MAKE) B=build-fuzz CC=clang \
	    CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" build-fuzz/libdunnd.a
endif

fuzz: $(FUZZERS)
	@rm -rf build-fuzz/seeds && mkdir -p build-fuzz/seeds/event \
	    build-fuzz/seeds/rules build-fuzz/seeds/protocol \
	    build-fuzz/seeds/ledger
	@cat tests/corpus/*.jsonl | split -l 1 -a 4 - build-fuzz/seeds/event/l
	@cp rules/*.conf build-fuzz/seeds/rules/
	@split -l 1 -a 4 fuzz/protocol.seeds build-fuzz/seeds/protocol/l
	@printf '\001\004\012\000\320\017\300\366\234\232\015\330\004\004\006\260\011\000\000\002\240\006\200\306\012\002\002\004\370\012\000\010\012\144\300\274\247\232\015\000\000\000' \
	    > build-fuzz/seeds/ledger/two
	@set -e; for t in event rules protocol ledger; do \
	    mkdir -p build-fuzz/corpus-$$t; \
	    echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    LSAN_OPTIONS=suppressions=fuzz/lsan.supp \
	    build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=65536 -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/crash-$$t- \
	        build-fuzz/corpus-$$t build-fuzz/seeds/$$t 2>&1 | \
	        grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*ERROR)' \
	        || true; \
	    if ls build-fuzz/crash-$$t-* >/dev/null 2>&1; then \
	        echo "fuzz_$$t: crash, see build-fuzz/crash-$$t-*"; exit 1; fi; \
	done

# R9 soak (bench/soak.py): SOAK_SECONDS (default 1800) at SOAK_RATE
# events/s (5000) on SOAK_ACCOUNTS (100000) with a feed follower,
# reloads, explains and a daily sweep; fails when RSS grows > 5 % after
# warm-up or the fds do not stay flat.  CI: 60 s on 10,000 accounts.
SOAK_SECONDS ?= 1800
SOAK_ACCOUNTS ?= 100000
soak: all
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_ACCOUNTS=$(SOAK_ACCOUNTS) python3 bench/soak.py --build $(B)

# R11 load (bench/load.py): LOAD_CLIENTS (256) clients for LOAD_SECONDS
# (600) mixing ingest, feed follow, explain, accounts and tasks; fails on
# an error, anything lost, or a client that waits longer than LOAD_BOUND
# (10 s) for the first line of a reply or for the next line of one.
LOAD_SECONDS ?= 600
load: all
	LOAD_SECONDS=$(LOAD_SECONDS) python3 bench/load.py --build $(B)

deps:
	@sh tools/deps.sh

test-deps:
	@sh tools/deps.sh test

run: deps
	$(MAKE) all
	@mkdir -p var
	./$(B)/dunnd -c dunnd.conf -f

# Install (as a Debian package would lay it out).  The configuration is
# installed only where none exists, so that an upgrade never overwrites
# an operator's edits; new default rules go beside a customised rules
# directory as *.conf.dist (tools/install-rules.sh), never into it.
PREFIX	?= /usr
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/dunnd
# Every page under man/, installed by its section (the name's suffix).
MANPAGES = $(wildcard man/*.[1-8])
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/dunnd/rules.d \
	    $(DESTDIR)$(SYSCONFDIR)/dunnd/push.d $(DESTDIR)$(DOCDIR)
	install -m 0755 $(B)/dunnd $(DESTDIR)$(PREFIX)/sbin/dunnd
	install -m 0755 $(B)/dunnctl $(DESTDIR)$(PREFIX)/bin/dunnctl
	install -m 0755 $(B)/dunnd-push $(DESTDIR)$(PREFIX)/bin/dunnd-push
	@set -e; for f in $(MANPAGES); do \
	    d=$(DESTDIR)$(MANDIR)/man$${f##*.}; \
	    install -d $$d && install -m 0644 $$f $$d/; \
	done
	install -m 0644 examples/push.conf $(DESTDIR)$(DOCDIR)/push.conf.example
	sed 's|/usr/bin/dunnd-push|$(PREFIX)/bin/dunnd-push|g; s|/etc/dunnd|$(SYSCONFDIR)/dunnd|g' \
	    systemd/dunnd-push@.service > $(DESTDIR)$(UNITDIR)/dunnd-push@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dunnd-push@.service
	sed 's|/usr/sbin/dunnd|$(PREFIX)/sbin/dunnd|; s|/etc/dunnd|$(SYSCONFDIR)/dunnd|' \
	    systemd/dunnd.service > $(DESTDIR)$(UNITDIR)/dunnd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dunnd.service
	sed 's|/usr/bin/dunnctl|$(PREFIX)/bin/dunnctl|' \
	    systemd/dunnd-metrics.service > $(DESTDIR)$(UNITDIR)/dunnd-metrics.service
	install -m 0644 systemd/dunnd-metrics.timer $(DESTDIR)$(UNITDIR)/dunnd-metrics.timer
	chmod 0644 $(DESTDIR)$(UNITDIR)/dunnd-metrics.service
	@set -e; c=$(DESTDIR)$(SYSCONFDIR)/dunnd/dunnd.conf; \
	if [ -e $$c ]; then echo "install: $$c kept"; else \
	    sed 's|/etc/dunnd|$(SYSCONFDIR)/dunnd|' systemd/dunnd.conf > $$c; \
	    chmod 0644 $$c; fi
	@sh tools/install-rules.sh rules $(DESTDIR)$(SYSCONFDIR)/dunnd/rules.d

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/dunnd $(DESTDIR)$(PREFIX)/bin/dunnctl \
	    $(DESTDIR)$(UNITDIR)/dunnd.service \
	    $(DESTDIR)$(UNITDIR)/dunnd-metrics.service \
	    $(DESTDIR)$(UNITDIR)/dunnd-metrics.timer \
	    $(DESTDIR)$(PREFIX)/bin/dunnd-push \
	    $(DESTDIR)$(UNITDIR)/dunnd-push@.service $(DESTDIR)$(DOCDIR)/push.conf.example
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@set -e; for f in $(MANPAGES); do \
	    rm -f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f#man/}; \
	done
	@echo "uninstall: $(SYSCONFDIR)/dunnd and the database are left in place"

format:
	clang-format -i daemon/*.c include/*.h tests/unit/*.c tests/unit/*.h \
	    bench/*.c bench/*.h bench/shim/*.c fuzz/*.c tests/fault/*.c

clean:
	rm -rf build build-asan build-valgrind build-clang build-fuzz build-selftest
