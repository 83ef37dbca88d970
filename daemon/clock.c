/*
 * clock — the only source of `now` and every rule of time of
 * interfaces.md §1 and §6: the input profiles (timestamp, date, duration,
 * HH:MM), the portfolio zone and its local dates, and the test clock.
 *
 * Everyone calls it; it calls nobody above it (log only).  Its state is
 * file-static because it is process-wide: the zone (glibc's, through TZ
 * and tzset()), three small caches, and the test clock.
 *
 * Invariants:
 * (1) Until clock_tz_set() succeeds the zone is UTC and glibc is never
 *     asked, whatever TZ the process inherited.
 * (2) Every local question reduces to the local wall clock of an instant,
 *     w(t) = t + off(t), counted in seconds from 1970-01-01T00:00 local:
 *     local_date(t) = floor(w(t) / 86400), and the start of local date d
 *     is the first instant t with w(t) >= d * 86400 (first_at()).
 * (3) Since 1970 no zone has offsets of 16 h or more, and no two offset
 *     changes of one zone are less than 3 days apart (checked with
 *     zdump -v on every zone of tzdata 2025b, 1970-2200).
 *     So the 32 h window around a wall time holds at most one change, and
 *     first_at() answers with 2-3 localtime_r() calls and no search,
 *     except when the wall time falls in a gap.
 */
#include "clock.h"

#include <sys/stat.h>

#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define DEFAULT_TZDIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX   255 /* the longest tzdata name has 36 bytes */
#define TZIF_HDR_LEN  44  /* magic, version, 15 reserved, six counts */

/* Invariant (3): every answer to first_at(W) lies in W +- WINDOW. */
#define WINDOW (16 * 3600)

/* 9999-12-31T23:59:59Z: the last instant the parsers accept. */
#define TS_MAX ((int64_t)(CLOCK_MAX_DAY + 1) * CLOCK_DAY - 1)

/* 0000-01-01: with CLOCK_MAX_DAY, the years clock_format_*() can print. */
#define FORMAT_MIN_DAY (-719528)

static bool zone_set; /* invariant (1) */
static char zone_name[TZ_NAME_MAX + 1] = "UTC";

/*
 * first_at() answers, direct-mapped by wall time: due-moment scheduling
 * asks for the same few day starts over and over.
 */
#define WALL_CACHE_SIZE 256
static struct {
	int64_t wall; /* INT64_MIN: empty */
	int64_t t;
} wall_cache[WALL_CACHE_SIZE];

/*
 * The last local date whose instants [lo, hi) carry one offset, so that
 * clock_local_date() of "today" costs two comparisons.  It is filled on
 * the second miss in a row on the same date, so random instants (ingest)
 * pay one localtime_r() and nothing more.
 */
static struct {
	int64_t lo, hi;
	int32_t day;
	int32_t last_miss;
} date_cache;

/*
 * zone_off() answers by UTC day [k * 86400, (k + 1) * 86400], direct-
 * mapped: a day whose two ends have one offset has it throughout
 * (invariant (3): two changes are 3 days apart or more), so each of its
 * instants costs a lookup, not a localtime_r() (glibc re-reads the zone's
 * rule string on each call past its last transition, under a lock).  A
 * day is filled on its first miss (two more localtime_r()), and the
 * table holds 4,096 days (11 years): a bulk load's instants spread over
 * its years of history, a thousand or more to a day, and a table of 64
 * days filled on a second miss left 4 % of ingest's time in glibc.
 * Only 1970-2199, where invariant (3) was checked.
 */
#define OFF_CACHE_SIZE 4096
#define OFF_CACHE_END  ((int64_t)84006 * CLOCK_DAY) /* 2200-01-01 */
enum off_state {
	OFF_EMPTY,
	OFF_WHOLE,
	OFF_MIXED
};
static struct {
	int64_t day;
	int off;
	enum off_state state;
} off_cache[OFF_CACHE_SIZE];

static bool test_mode;
static int64_t test_now;

static void
cache_clear(void)
{
	size_t i;

	for (i = 0; i < WALL_CACHE_SIZE; i++)
		wall_cache[i].wall = INT64_MIN;
	date_cache.lo = 0;
	date_cache.hi = 0;
	date_cache.last_miss = INT32_MIN;
	for (i = 0; i < OFF_CACHE_SIZE; i++)
		off_cache[i].state = OFF_EMPTY;
}

/*
 * Howard Hinnant's days_from_civil / civil_from_days: exact for every
 * proleptic Gregorian date, no table, no loop.
 */
int32_t
clock_days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe, yy = y;

	assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
	yy -= m <= 2;
	era = (yy >= 0 ? yy : yy - 399) / 400;
	yoe = yy - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

void
clock_civil_from_days(int32_t day, int *y, int *m, int *d)
{
	int64_t z = (int64_t)day + 719468, era, doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* The value of n ASCII digits at s, or -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD" at s (10 bytes known to be there) into a day number. */
static int
parse_ymd(const char *s, int32_t *day, const char **why, const char *syntax_why)
{
	int y, m, d;

	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || m < 0 || d < 0 || s[4] != '-' || s[7] != '-') {
		*why = syntax_why;
		return -1;
	}
	if (y < 1970) {
		*why = "year out of range 1970-9999";
		return -1;
	}
	if (m < 1 || m > 12 || d < 1 || d > month_days(y, m)) {
		*why = "invalid date";
		return -1;
	}
	*day = clock_days_from_civil(y, m, d);
	return 0;
}

int
clock_parse_ts(const char *s, size_t len, int64_t *t, const char **why)
{
	static const char *syntax = "not an RFC 3339 timestamp";
	int32_t day;
	int hh, mi, ss, oh, om, off;
	size_t i, nfrac;
	int64_t v;

	/*
	 * The whole syntax first, "YYYY-MM-DDTHH:MM:SS", the fraction, "Z"
	 * or "+HH:MM", then the values: a malformed string is never
	 * reported as a bad value.
	 */
	if (len < 20 || digits(s, 4) < 0 || s[4] != '-' ||
	    digits(s + 5, 2) < 0 || s[7] != '-' || digits(s + 8, 2) < 0 ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		goto syntax;
	hh = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	ss = digits(s + 17, 2);
	if (hh < 0 || mi < 0 || ss < 0)
		goto syntax;
	i = 19;
	if (s[i] == '.') {
		for (i++, nfrac = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			nfrac++;
		if (nfrac == 0)
			goto syntax;
		if (nfrac > 9) {
			*why = "fraction longer than 9 digits";
			return -1;
		}
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
		off = 0;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
	    s[i + 3] == ':') {
		oh = digits(s + i + 1, 2);
		om = digits(s + i + 4, 2);
		if (oh < 0 || om < 0)
			goto syntax;
		if (oh > 23 || om > 59) {
			*why = "offset out of range (at most 23:59)";
			return -1;
		}
		off = (oh * 60 + om) * 60;
		if (s[i] == '-')
			off = -off;
	} else
		goto syntax;
	if (parse_ymd(s, &day, why, syntax) == -1)
		return -1;
	if (ss == 60) {
		*why = "second 60 not allowed";
		return -1;
	}
	if (hh > 23 || mi > 59 || ss > 59) {
		*why = "invalid time of day";
		return -1;
	}
	/* A fraction is truncated: the instant is its whole second. */
	v = (int64_t)day * CLOCK_DAY + hh * 3600 + mi * 60 + ss - off;
	/*
	 * The years are those of the written date; the instant must also be
	 * in range, so 1970-01-01T00:00:00+01:00 (1969 in UTC) is refused.
	 */
	if (v < 0) {
		*why = "timestamp before 1970-01-01T00:00:00Z";
		return -1;
	}
	if (v > TS_MAX) {
		*why = "timestamp after 9999-12-31T23:59:59Z";
		return -1;
	}
	*t = v;
	return 0;
syntax:
	*why = syntax;
	return -1;
}

int
clock_parse_date(const char *s, size_t len, int32_t *day, const char **why)
{
	static const char *syntax = "not a date YYYY-MM-DD";

	if (len != 10) {
		*why = syntax;
		return -1;
	}
	return parse_ymd(s, day, why, syntax);
}

int
clock_parse_duration(const char *s, size_t len, int64_t *secs, const char **why)
{
	int64_t n = 0, unit;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		if (i < 6) /* more are refused below: no overflow */
			n = n * 10 + (s[i] - '0');
	if (i == 0) {
		*why = "duration must start with 1-6 digits";
		return -1;
	}
	if (i > 6) {
		*why = "duration has more than 6 digits";
		return -1;
	}
	if (i + 1 != len) {
		*why = i == len ? "duration has no unit (m, h, d or w)"
		                : "unknown duration unit (m, h, d or w)";
		return -1;
	}
	switch (s[i]) {
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = CLOCK_DAY;
		break;
	case 'w':
		unit = 7 * CLOCK_DAY;
		break;
	default:
		*why = "unknown duration unit (m, h, d or w)";
		return -1;
	}
	*secs = n * unit;
	return 0;
}

int
clock_parse_hhmm(const char *s, int *minutes, const char **why)
{
	int hh, mm;

	if (strlen(s) != 5 || s[2] != ':' || (hh = digits(s, 2)) < 0 ||
	    (mm = digits(s + 3, 2)) < 0) {
		*why = "not a time HH:MM";
		return -1;
	}
	if (hh > 23 || mm > 59) {
		*why = "time out of range 00:00-23:59";
		return -1;
	}
	*minutes = hh * 60 + mm;
	return 0;
}

/*
 * A zone name is a relative path of tzdata: components of
 * [A-Za-z0-9._+-], none empty, "." or "..".  This also keeps glibc from
 * reading it as a POSIX TZ string (":", ",", "<").
 */
static bool
tz_name_ok(const char *name)
{
	const char *p, *comp;
	size_t n;

	n = strlen(name);
	if (n == 0 || n > TZ_NAME_MAX)
		return false;
	for (comp = p = name;; p++) {
		if (*p == '/' || *p == '\0') {
			if (p == comp || (p - comp == 1 && comp[0] == '.') ||
			    (p - comp == 2 && comp[0] == '.' && comp[1] == '.'))
				return false;
			if (*p == '\0')
				return true;
			comp = p + 1;
		} else if (!((*p >= 'A' && *p <= 'Z') ||
		               (*p >= 'a' && *p <= 'z') ||
		               (*p >= '0' && *p <= '9') || *p == '.' ||
		               *p == '_' || *p == '+' || *p == '-'))
			return false;
	}
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads a TZif header at off: 1 with its leap second count in *leaps and
 * the length of the data block after it in *skip, 0 if not TZif.
 */
static int
tzif_header(int fd, off_t off, uint32_t *leaps, off_t *skip, char *version)
{
	unsigned char h[TZIF_HDR_LEN];
	uint32_t isut, isstd, leap, ntimes, ntypes, nchars;

	if (pread(fd, h, sizeof(h), off) != (ssize_t)sizeof(h) ||
	    memcmp(h, "TZif", 4) != 0)
		return 0;
	isut = be32(h + 20);
	isstd = be32(h + 24);
	leap = be32(h + 28);
	ntimes = be32(h + 32);
	ntypes = be32(h + 36);
	nchars = be32(h + 40);
	*leaps = leap;
	/* The version 1 block: 4-byte times and leap records. */
	*skip = (off_t)ntimes * 5 + (off_t)ntypes * 6 + nchars +
	    (off_t)leap * 8 + isstd + isut;
	*version = (char)h[4];
	return 1;
}

/*
 * The zone file exists in tzdata, is a regular TZif file, and counts no
 * leap seconds: "right/..." zones would make a day longer than 86400 of
 * our seconds, which are POSIX seconds throughout.
 */
static bool
tz_file_ok(const char *name)
{
	const char *dir;
	char path[4096];
	struct stat st;
	uint32_t leaps, leaps2;
	off_t skip;
	char version;
	bool ok = false;
	int fd;

	/* glibc's own rule: $TZDIR unless unset or empty. */
	dir = getenv("TZDIR");
	if (dir == NULL || *dir == '\0')
		dir = DEFAULT_TZDIR;
	if (strlen(dir) + 1 + strlen(name) + 1 > sizeof(path))
		return false;
	strcpy(path, dir);
	strcat(path, "/");
	strcat(path, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto done;
	if (tzif_header(fd, 0, &leaps, &skip, &version) == 0)
		goto done;
	/* Version 2+: a second header follows, the one glibc reads. */
	if (version != '\0') {
		if (tzif_header(
		        fd, TZIF_HDR_LEN + skip, &leaps2, &skip, &version) == 0)
			goto done;
		leaps |= leaps2;
	}
	ok = leaps == 0;
done:
	close(fd);
	return ok;
}

int
clock_tz_set(const char *name)
{
	if (!tz_name_ok(name) || !tz_file_ok(name))
		return -1;
	if (setenv("TZ", name, 1) == -1) {
		log_warn("clock: setenv TZ=%s", name);
		return -1;
	}
	tzset();
	memcpy(zone_name, name, strlen(name) + 1);
	zone_set = true;
	cache_clear();
	return 0;
}

const char *
clock_tz_name(void)
{
	return zone_name;
}

/* The zone's offset at t: the one place that asks glibc. */
static int
glibc_off(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return 0; /* only beyond year 2^31 */
	return (int)tm.tm_gmtoff;
}

/* The zone's offset at t, through off_cache. */
static int
zone_off(int64_t t)
{
	int64_t k, lo;
	size_t i;
	int off, end_off;

	if (!zone_set)
		return 0; /* invariant (1) */
	if (t < 0 || t >= OFF_CACHE_END)
		return glibc_off(t);
	k = t / CLOCK_DAY;
	i = (size_t)(k % OFF_CACHE_SIZE);
	if (off_cache[i].day == k && off_cache[i].state == OFF_WHOLE)
		return off_cache[i].off;
	off = glibc_off(t);
	if (off_cache[i].day != k || off_cache[i].state == OFF_EMPTY) {
		lo = k * CLOCK_DAY;
		off_cache[i].day = k;
		off_cache[i].off = glibc_off(lo);
		end_off = glibc_off(lo + CLOCK_DAY);
		off_cache[i].state =
		    off_cache[i].off == end_off ? OFF_WHOLE : OFF_MIXED;
	}
	return off;
}

int
clock_utc_offset(int64_t t)
{
	return zone_off(t);
}

/*
 * The first instant t with w(t) >= wall (invariant (2)).  By invariant
 * (3) the window wall +- WINDOW holds every candidate and at most one
 * offset change, from oa to ob.  A wall time that occurs twice is found
 * in the earlier offset first; one in a gap is answered by the change
 * itself, the first instant after the gap.
 */
static int64_t
first_at_uncached(int64_t wall)
{
	int64_t lo = wall - WINDOW, hi = wall + WINDOW, ca, cb, mid;
	int oa, ob;

	oa = zone_off(lo);
	ob = zone_off(hi);
	ca = wall - oa;
	if (oa == ob)
		return ca;
	/* With one change at T, off(x) == oa exactly when x < T. */
	if (zone_off(ca) == oa)
		return ca;
	cb = wall - ob;
	if (zone_off(cb) == ob)
		return cb;
	/* A gap: find T, the first instant with the new offset. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (zone_off(mid) == oa)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static int64_t
first_at(int64_t wall)
{
	uint64_t h;
	size_t i;
	int64_t t;

	if (!zone_set)
		return wall;
	h = (uint64_t)wall * 0x9e3779b97f4a7c15ULL;
	i = (size_t)(h >> 56) % WALL_CACHE_SIZE;
	if (wall_cache[i].wall == wall)
		return wall_cache[i].t;
	t = first_at_uncached(wall);
	wall_cache[i].wall = wall;
	wall_cache[i].t = t;
	return t;
}

int32_t
clock_local_date(int64_t t)
{
	int64_t lo, hi;
	int32_t day;

	if (t >= date_cache.lo && t < date_cache.hi)
		return date_cache.day;
	day = (int32_t)floor_div(t + zone_off(t), CLOCK_DAY);
	if (zone_set && day == date_cache.last_miss) {
		/*
		 * Cache the date only when one offset covers it: then its
		 * instants are exactly [lo, hi) (invariant (3)).
		 */
		lo = clock_day_start(day);
		hi = clock_day_start(day + 1);
		if (t >= lo && t < hi && zone_off(lo) == zone_off(hi - 1)) {
			date_cache.lo = lo;
			date_cache.hi = hi;
			date_cache.day = day;
		}
	}
	date_cache.last_miss = day;
	return day;
}

int64_t
clock_day_start(int32_t day)
{
	return first_at((int64_t)day * CLOCK_DAY);
}

int64_t
clock_day_at(int32_t day, int minutes)
{
	assert(minutes >= 0 && minutes < 24 * 60);
	return first_at((int64_t)day * CLOCK_DAY + minutes * 60);
}

int64_t
clock_next_midnight(int64_t t)
{
	int32_t day = clock_local_date(t);
	int64_t next = clock_day_start(day + 1);

	/*
	 * Where a change moved the clock back across midnight (St. John's
	 * 1987-2010: 00:00:59 NDT became 23:01 NST), the next date had
	 * already begun for a minute before t.  The midnight after t is then
	 * the one in t's offset.
	 */
	if (next <= t)
		next = (int64_t)(day + 1) * CLOCK_DAY - zone_off(t);
	return next;
}

static void
put_digits(char *p, int64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* "YYYY-MM-DD" of day, clamped to years 0000-9999, at p (no NUL). */
static void
put_date(char *p, int64_t day)
{
	int y, m, d;

	if (day < FORMAT_MIN_DAY)
		day = FORMAT_MIN_DAY;
	if (day > CLOCK_MAX_DAY)
		day = CLOCK_MAX_DAY;
	clock_civil_from_days((int32_t)day, &y, &m, &d);
	put_digits(p, y, 4);
	p[4] = '-';
	put_digits(p + 5, m, 2);
	p[7] = '-';
	put_digits(p + 8, d, 2);
}

/*
 * RFC 3339 offsets have whole minutes.  The only zone with seconds in
 * its offset after 1970 is Africa/Monrovia (-00:44:30 until 1972): the
 * offset is truncated to -00:44 and the wall time written with it, so the
 * string still names exactly the instant t.
 */
void
clock_format_ts(int64_t t, char buf[CLOCK_TS_LEN])
{
	int off_min = zone_off(t) / 60, aoff;
	int64_t wall = t + off_min * 60, day, sod;

	day = floor_div(wall, CLOCK_DAY);
	sod = wall - day * CLOCK_DAY;
	if (day < FORMAT_MIN_DAY || day > CLOCK_MAX_DAY)
		sod = day < FORMAT_MIN_DAY ? 0 : CLOCK_DAY - 1;
	put_date(buf, day);
	buf[10] = 'T';
	put_digits(buf + 11, sod / 3600, 2);
	buf[13] = ':';
	put_digits(buf + 14, sod / 60 % 60, 2);
	buf[16] = ':';
	put_digits(buf + 17, sod % 60, 2);
	aoff = off_min < 0 ? -off_min : off_min;
	buf[19] = off_min < 0 ? '-' : '+';
	put_digits(buf + 20, aoff / 60, 2);
	buf[22] = ':';
	put_digits(buf + 23, aoff % 60, 2);
	buf[25] = '\0';
}

void
clock_format_date(int32_t day, char buf[CLOCK_DATE_LEN])
{
	put_date(buf, day);
	buf[10] = '\0';
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock: clock_gettime");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock: clock_gettime");
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
clock_wall(void)
{
	struct timespec ts;

	/* Cannot fail with a valid clock id and pointer. */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("clock: clock_gettime");
	return (int64_t)ts.tv_sec;
}

void
clock_test_start(int64_t t)
{
	test_mode = true;
	test_now = t;
}

bool
clock_is_test(void)
{
	return test_mode;
}

void
clock_test_set(int64_t t)
{
	assert(test_mode);
	test_now = t;
}

int64_t
clock_now(void)
{
	return test_mode ? test_now : clock_wall();
}
