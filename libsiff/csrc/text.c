/* text.c - "key = value" fields in ScanImage header and frame description text. */
#if !defined(_WIN32)
#define _GNU_SOURCE 1 /* strtod_l, newlocale */
#endif
#include "siff_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <locale.h>
#elif defined(__APPLE__)
#include <xlocale.h>
#else
#include <locale.h>
#endif

int siff_fail(siff_error *err, int status, int64_t frame, int64_t offset, const char *fmt, ...) {
    if (err) {
        err->status = status;
        err->frame = frame;
        err->offset = offset;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void siff_clear_error(siff_error *err) {
    if (err) {
        err->status = SIFF_OK;
        err->frame = -1;
        err->offset = -1;
        err->message[0] = '\0';
    }
}

const char *siff_status_name(int status) {
    switch (status) {
    case SIFF_OK: return "ok";
    case SIFF_ERR_IO: return "I/O error";
    case SIFF_ERR_FORMAT: return "format error";
    case SIFF_ERR_TRUNCATED: return "truncated file";
    case SIFF_ERR_INDEX: return "index out of range";
    case SIFF_ERR_ARG: return "invalid argument";
    case SIFF_ERR_NOMEM: return "out of memory";
    case SIFF_ERR_NO_TAU_BINS: return "no Tau_bins in header";
    case SIFF_ERR_NOT_FLIM: return "frame has no arrival times";
    case SIFF_ERR_NO_FIELD: return "missing description field";
    case SIFF_ERR_SHAPE: return "frames differ in shape";
    default: return "unknown status";
    }
}

unsigned siff_version_number(void) { return SIFF_VERSION_NUMBER; }

/* How common a byte is in ScanImage header and description text (0 rare .. 3 common):
 * searches scan for the needle's rarest byte, so memchr skips most of the text. */
static int byte_rank(unsigned char c) {
    if (c == ' ' || c == '\n' || c == '=' || c == '.' || c == 'e' || c == 't' || c == 'a' ||
        c == 'o' || c == 'i' || c == 'n' || c == 's' || c == 'r')
        return 3;
    if (c == 'q' || c == 'z' || c == 'x' || c == 'j' || c == 'Q' || c == 'Z' || c == 'X' ||
        c == 'J' || c == 'K' || c == 'V' || c == 'W' || c == 'Y')
        return 0;
    if ((c >= 'A' && c <= 'Z') || c == '_') return 1;
    return 2;
}

uint64_t siff_needle_anchor(const char *needle, uint64_t len) {
    uint64_t k = 0;
    for (uint64_t i = 1; i < len && byte_rank((unsigned char)needle[k]) > 0; i++)
        if (byte_rank((unsigned char)needle[i]) < byte_rank((unsigned char)needle[k])) k = i;
    return k;
}

const char *siff_find_bytes(const char *hay, uint64_t hay_len, const char *needle,
                            uint64_t needle_len, uint64_t anchor) {
    if (needle_len == 0 || needle_len > hay_len || anchor >= needle_len) return NULL;
    const char *p = hay + anchor;                                /* anchor of the first start */
    const char *end = hay + (hay_len - needle_len) + anchor + 1; /* one past the last one */
    while (p < end) {
        const char *q = memchr(p, needle[anchor], (size_t)(end - p));
        if (!q) return NULL;
        if (memcmp(q - anchor, needle, (size_t)needle_len) == 0) return q - anchor;
        p = q + 1;
    }
    return NULL;
}

void siff_trim_value(const char *start, const char *stop, const char **value,
                     uint64_t *value_len) {
    const char *nl = memchr(start, '\n', (size_t)(stop - start));
    const char *end = nl ? nl : stop;
    while (start < end && (*start == ' ' || *start == '\t' || *start == '\r')) start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    *value = start;
    *value_len = (uint64_t)(end - start);
}

int siff_text_find_value(const char *text, uint64_t len, const char *needle, const char **value,
                         uint64_t *value_len) {
    const uint64_t nlen = strlen(needle);
    const char *hit = siff_find_bytes(text, len, needle, nlen, siff_needle_anchor(needle, nlen));
    if (!hit) return 0;
    siff_trim_value(hit + nlen, text + len, value, value_len);
    return 1;
}

int siff_parse_u64(const char *s, uint64_t len, uint64_t *out) {
    if (len == 0 || len > 20) return 0;
    uint64_t v = 0;
    for (uint64_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Clinger's fast path: "[-]digits[.digits]" whose digits fit in 2^53 and with at most 22
 * decimals is mantissa / 10^k, both exact doubles, so one IEEE division gives the correctly
 * rounded value, the same as strtod. Returns 0 when the text is not of that form. */
static int fast_decimal(const char *s, uint64_t len, double *out) {
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t i = 0, mant = 0;
    int neg = 0, decimals = -1, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (c < '0' || c > '9') return 0;
        if (mant > (((uint64_t)1 << 53) - 10) / 10) return 0;
        mant = mant * 10 + (uint64_t)(c - '0');
        digits++;
        if (decimals >= 0) decimals++;
    }
    if (digits == 0 || decimals > 22) return 0;
    double v = (double)mant / pow10[decimals < 0 ? 0 : decimals];
    *out = neg ? -v : v;
    return 1;
}

/* Locale-independent, correctly rounded (the C library's strtod in the "C" locale). */
int siff_parse_f64(const char *s, uint64_t len, double *out) {
    if (fast_decimal(s, len, out)) return 1;
    char buf[64];
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, (size_t)len);
    buf[len] = '\0';
    for (uint64_t i = 0; i < len; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E' || c == 'n' || c == 'a' || c == 'N' || c == 'i' || c == 'I' ||
              c == 'f' || c == 'F'))
            return 0;
    }
    char *end = NULL;
    double v;
#if defined(_WIN32)
    _locale_t c_locale = _create_locale(LC_NUMERIC, "C");
    if (!c_locale) return 0;
    v = _strtod_l(buf, &end, c_locale);
    _free_locale(c_locale);
#else
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) return 0;
    v = strtod_l(buf, &end, c_locale);
    freelocale(c_locale);
#endif
    if (end != buf + len) return 0;
    *out = v;
    return 1;
}
