/* core/timefmt.c: int64 Unix milliseconds <-> RFC 3339 UTC text. Owns the civil-calendar
 * arithmetic (proleptic Gregorian, days from 1970-01-01), so no libc time zone state is used.
 * Pure and thread-safe: no clock, no globals. */
#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Years beyond 9999 (ms past 253402300799999) print with more digits; the widest int64 input
 * still fits JE_TIME_BUF (year at most 9 digits and a sign). */
const char *je_time_format(int64_t ms, char buf[JE_TIME_BUF]) {
    int64_t days = floor_div(ms, MS_PER_DAY);
    int rem = (int)(ms % MS_PER_DAY);
    if (rem < 0) rem += (int)MS_PER_DAY;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) { /* the common case, without printf */
        int f[7] = {(int)y, m, d, rem / 3600000, rem / 60000 % 60, rem / 1000 % 60, rem % 1000};
        static const char layout[] = "0000-00-00T00:00:00.000Z";
        static const int ends[7] = {3, 6, 9, 12, 15, 18, 22}; /* each field's last digit */
        memcpy(buf, layout, sizeof layout);
        for (int i = 0; i < 7; i++)
            for (int k = ends[i], v = f[i]; v; k--, v /= 10) buf[k] = (char)('0' + v % 10);
        return buf;
    }
    char tmp[96];
    int n = snprintf(tmp, sizeof tmp, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                     rem / 3600000, rem / 60000 % 60, rem / 1000 % 60, rem % 1000);
    size_t len = n < 0 ? 0 : (size_t)n < JE_TIME_BUF ? (size_t)n : JE_TIME_BUF - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return buf;
}

/* Reads exactly n digits at *p into *out and advances; -1 when a non-digit is met. */
static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char a, char b) {
    if (**p != a && **p != b) return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int y, int m) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Optional ".d{1,9}": milliseconds from the first three digits, the rest truncated. */
static int parse_fraction(const char **p, int *ms) {
    *ms = 0;
    if (**p != '.') return 0;
    (*p)++;
    int n = 0;
    for (; (*p)[0] >= '0' && (*p)[0] <= '9'; (*p)++, n++) {
        if (n < 3) *ms = *ms * 10 + ((*p)[0] - '0');
    }
    if (n == 0 || n > 9) return -1;
    for (int i = n; i < 3; i++) *ms *= 10;
    return 0;
}

/* "Z"/"z" or "+hh:mm"/"-hh:mm" ending the string; *off_min is minutes east of UTC. */
static int parse_offset(const char *p, int *off_min) {
    int hh, mm;
    *off_min = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') return 0;
    if (*p != '+' && *p != '-') return -1;
    int sign = *p == '-' ? -1 : 1;
    p++;
    if (digits(&p, 2, &hh) || expect(&p, ':', ':') || digits(&p, 2, &mm)) return -1;
    if (*p != '\0' || hh > 23 || mm > 59) return -1;
    *off_min = sign * (hh * 60 + mm);
    return 0;
}

int je_time_parse(const char *s, int64_t *ms) {
    int y, mo, d, h, mi, sec, frac, off;
    const char *p = s;
    if (!s || !ms) return -1;
    if (digits(&p, 4, &y) || expect(&p, '-', '-') || digits(&p, 2, &mo) || expect(&p, '-', '-') ||
        digits(&p, 2, &d) || expect(&p, 'T', 't') || digits(&p, 2, &h) || expect(&p, ':', ':') ||
        digits(&p, 2, &mi) || expect(&p, ':', ':') || digits(&p, 2, &sec))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
    if (h > 23 || mi > 59 || sec > 59) return -1;
    if (parse_fraction(&p, &frac) || parse_offset(p, &off)) return -1;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
