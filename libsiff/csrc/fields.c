/* fields.c - numeric fields of per-frame description texts, for many frames at once. */
#include "siff_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *needle_of(int field) {
    switch (field) {
    case SIFF_FIELD_FRAME_TIMESTAMP: return "frameTimestamps_sec = ";
    case SIFF_FIELD_EPOCH_LASER: return "\nepoch = ";
    case SIFF_FIELD_EPOCH_SYSTEM: return "mostRecentSystemTimestamp_epoch = ";
    case SIFF_FIELD_SYNC_STAMPS: return "sync Stamps = ";
    case SIFF_FIELD_HAS_APPENDED_TEXT: return "\nAppended text = ";
    default: return NULL;
    }
}

/* Finds needle in frame fr's description reading it in chunks, only as far as the first
 * match; copies the text from the match on (at most VALUE_CAP bytes) into val. Returns 1
 * found, 0 absent, or minus a status. */
#define CHUNK ((uint64_t)1 << 16)
#define VALUE_CAP 160
static int find_in_description(const siff_file *f, const siff_frame *fr, const char *needle,
                               char *chunk, char *val, uint64_t *val_len, uint64_t *match_end,
                               siff_error *err) {
    const uint64_t nlen = strlen(needle), len = fr->description_length;
    uint64_t pos = 0;
    while (pos < len) {
        const uint64_t want = len - pos < CHUNK ? len - pos : CHUNK;
        int rc = siff_io_read(&f->io, fr->description_offset + pos, chunk, want, err);
        if (rc) return -rc;
        const char *v;
        uint64_t vl;
        if (siff_text_find_value(chunk, want, needle, &v, &vl)) {
            const uint64_t at = pos + (uint64_t)(v - chunk) - nlen; /* match start */
            const uint64_t n = len - at < VALUE_CAP ? len - at : VALUE_CAP;
            /* leading blanks were skipped by find_value: re-read from the match */
            rc = siff_io_read(&f->io, fr->description_offset + at, val, n, err);
            if (rc) return -rc;
            *val_len = n;
            *match_end = at + n;
            return 1;
        }
        if (pos + want >= len) break;
        pos += want - (nlen - 1); /* the next chunk overlaps by a needle less one byte */
    }
    return 0;
}

/* One parsed field per distinct description offset (every frame may point at one shared
 * description). A value that ends within the first `used` bytes holds for any length >=
 * used; an absent field, or a value running to the end, only for the same length. */
typedef struct {
    uint64_t key; /* description offset + 1; 0 marks an empty slot */
    uint64_t length, used;
    double f64;
    uint64_t u64;
    uint8_t found;
} field_memo;

static int memo_holds(const field_memo *m, const siff_frame *fr) {
    if (m->key != fr->description_offset + 1) return 0;
    if (m->found && m->used < m->length) return fr->description_length >= m->used;
    return fr->description_length == m->length; /* absent, or a value up to the very end */
}

/* The slot holding frame fr's result, or the empty slot where it goes. */
static field_memo *memo_slot(field_memo *memo, uint64_t cap, const siff_frame *fr) {
    uint64_t h = ((fr->description_offset + 1) * 0x9E3779B97F4A7C15ull) & (cap - 1);
    while (memo[h].key && !memo_holds(&memo[h], fr)) h = (h + 1) & (cap - 1);
    return &memo[h];
}

static int parse_field(const siff_file *f, const siff_frame *fr, int field, const char *needle,
                       char *chunk, field_memo *out, siff_error *err) {
    char val[VALUE_CAP];
    uint64_t vlen = 0, end = 0;
    out->found = 0;
    out->used = 0;
    out->f64 = NAN;
    out->u64 = 0;
    if (fr->flags & SIFF_FRAME_BAD_DESCRIPTION) return SIFF_OK; /* reported as missing */
    int hit = find_in_description(f, fr, needle, chunk, val, &vlen, &end, err);
    if (hit < 0) return -hit;
    if (!hit) return SIFF_OK;
    out->used = end;
    if (field == SIFF_FIELD_HAS_APPENDED_TEXT) {
        out->found = 1;
        return SIFF_OK;
    }
    const char *v;
    uint64_t vl;
    if (siff_text_find_value(val, vlen, needle, &v, &vl)) {
        if (field == SIFF_FIELD_FRAME_TIMESTAMP)
            out->found = (uint8_t)siff_parse_f64(v, vl, &out->f64);
        else
            out->found = (uint8_t)siff_parse_u64(v, vl, &out->u64);
    }
    /* a value that does not parse is "absent", which holds only for this exact length */
    return SIFF_OK;
}

int siff_read_fields(const siff_file *f, const uint64_t *frames, uint64_t n, int field,
                     double *out_f64, uint64_t *out_u64, uint8_t *found, siff_error *err) {
    siff_clear_error(err);
    const char *needle = needle_of(field);
    if (!f || !needle || (n && (!frames || !found)))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "invalid arguments to siff_read_fields");
    for (uint64_t i = 0; i < n; i++) {
        int rc = siff_check_index(f, frames[i], err);
        if (rc) return rc;
    }
    uint64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    field_memo *memo = n ? calloc((size_t)cap, sizeof *memo) : NULL;
    char *chunk = n ? malloc((size_t)CHUNK) : NULL;
    int rc = SIFF_OK;
    if (n && (!memo || !chunk)) rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    for (uint64_t i = 0; i < n && rc == SIFF_OK; i++) {
        const siff_frame *fr = &f->frames[frames[i]];
        field_memo *m = memo_slot(memo, cap, fr);
        if (!m->key) {
            rc = parse_field(f, fr, field, needle, chunk, m, err);
            if (rc) {
                if (err) err->frame = (int64_t)frames[i];
                break;
            }
            m->key = fr->description_offset + 1;
            m->length = fr->description_length;
        }
        found[i] = m->found;
        if (out_f64) out_f64[i] = m->f64;
        if (out_u64) out_u64[i] = m->u64;
    }
    free(memo);
    free(chunk);
    return rc;
}
