/* fields.c - numeric fields of per-frame description texts, for many frames at once.
 *
 * Each distinct description is read once, in one read when it fits the stack buffer (every
 * ScanImage description does), and every requested field is parsed from those bytes. */
#include "siff_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEEDLES 2
#define TEXT_STACK ((uint64_t)4096) /* descriptions up to this size come in one read */
#define CHUNK ((uint64_t)1 << 16)   /* longer ones are read in chunks of this size */
#define VALUE_CAP 160               /* bytes from the match start that hold the value */

/* The needles of a field (two for SIFF_FIELD_EPOCH_BOTH); 0 for an unknown field. */
static int needles_of(int field, const char **needles) {
    switch (field) {
    case SIFF_FIELD_FRAME_TIMESTAMP: needles[0] = "frameTimestamps_sec = "; return 1;
    case SIFF_FIELD_EPOCH_LASER: needles[0] = "\nepoch = "; return 1;
    case SIFF_FIELD_EPOCH_SYSTEM: needles[0] = "mostRecentSystemTimestamp_epoch = "; return 1;
    case SIFF_FIELD_SYNC_STAMPS: needles[0] = "sync Stamps = "; return 1;
    case SIFF_FIELD_HAS_APPENDED_TEXT: needles[0] = "\nAppended text = "; return 1;
    case SIFF_FIELD_EPOCH_BOTH:
        needles[0] = "\nepoch = ";
        needles[1] = "mostRecentSystemTimestamp_epoch = ";
        return 2;
    default: return 0;
    }
}

/* One parsed value. used: the end of its value window in the description (0 absent). */
typedef struct {
    double f64;
    uint64_t u64;
    uint64_t used;
    uint8_t found;
} field_value;

/* What one request parses: its needles and how each value is read. */
typedef struct {
    const siff_file *f;
    int field, count;
    const char *needles[MAX_NEEDLES];
    uint64_t lengths[MAX_NEEDLES], anchors[MAX_NEEDLES];
    char text[TEXT_STACK];
    char *chunk; /* CHUNK bytes, allocated for the first long description */
} field_reader;

/* Parses the value window w[0..n), which starts with needle j (docs/format.md §5: the
 * value runs to the end of its line, blanks trimmed). */
static void parse_window(const field_reader *r, int j, const char *w, uint64_t n,
                         field_value *out) {
    out->found = 1;
    if (r->field == SIFF_FIELD_HAS_APPENDED_TEXT) return;
    const char *v;
    uint64_t vl;
    siff_trim_value(w + r->lengths[j], w + n, &v, &vl);
    if (r->field == SIFF_FIELD_FRAME_TIMESTAMP)
        out->found = (uint8_t)siff_parse_f64(v, vl, &out->f64);
    else
        out->found = (uint8_t)siff_parse_u64(v, vl, &out->u64);
}

/* Finds every needle of r in frame fr's description and parses its value. A value that
 * does not parse counts as absent. */
static int parse_description(field_reader *r, const siff_frame *fr, field_value *out,
                             siff_error *err) {
    for (int j = 0; j < r->count; j++) {
        out[j].found = 0;
        out[j].used = 0;
        out[j].f64 = NAN;
        out[j].u64 = 0;
    }
    if (fr->flags & SIFF_FRAME_BAD_DESCRIPTION) return SIFF_OK; /* reported as missing */
    const uint64_t len = fr->description_length, base = fr->description_offset;
    uint64_t overlap = 0; /* consecutive chunks share the longest needle less one byte */
    for (int j = 0; j < r->count; j++)
        if (r->lengths[j] - 1 > overlap) overlap = r->lengths[j] - 1;
    char *buf = r->text;
    uint64_t cap = TEXT_STACK;
    if (len > TEXT_STACK) {
        if (!r->chunk && !(r->chunk = malloc((size_t)CHUNK)))
            return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
        buf = r->chunk;
        cap = CHUNK;
    }
    int left = r->count;
    uint64_t pos = 0;
    while (pos < len && left > 0) {
        const uint64_t want = len - pos < cap ? len - pos : cap;
        int rc = siff_io_read(&r->f->io, base + pos, buf, want, err);
        if (rc) return rc;
        for (int j = 0; j < r->count; j++) {
            if (out[j].used) continue;
            const char *hit =
                siff_find_bytes(buf, want, r->needles[j], r->lengths[j], r->anchors[j]);
            if (!hit) continue;
            const uint64_t at = (uint64_t)(hit - buf); /* the value window starts here */
            const uint64_t n = len - (pos + at) < VALUE_CAP ? len - (pos + at) : VALUE_CAP;
            out[j].used = pos + at + n;
            left--;
            if (at + n <= want) {
                parse_window(r, j, buf + at, n, &out[j]);
            } else { /* the window runs past this chunk: read it on its own */
                char w[VALUE_CAP];
                rc = siff_io_read(&r->f->io, base + pos + at, w, n, err);
                if (rc) return rc;
                parse_window(r, j, w, n, &out[j]);
            }
        }
        if (pos + want >= len) break;
        pos += want - overlap;
    }
    return SIFF_OK;
}

/* One parsed description per distinct description offset, kept only once frames are not
 * in increasing description order (otherwise no description can come twice). A result
 * whose values all end before the description's end holds for any length >= its end; an
 * absent value, or one running to the end, only for the same length. */
typedef struct {
    uint64_t key; /* description offset + 1; 0 marks an empty slot */
    uint64_t length, used;
    int complete; /* every value found, each window ending before the description's end */
    field_value v[MAX_NEEDLES];
} field_memo;

static int memo_holds(const field_memo *m, const siff_frame *fr) {
    if (m->key != fr->description_offset + 1) return 0;
    if (m->complete) return fr->description_length >= m->used;
    return fr->description_length == m->length;
}

/* The slot holding frame fr's result, or the empty slot where it goes. */
static field_memo *memo_slot(field_memo *memo, uint64_t cap, const siff_frame *fr) {
    uint64_t h = ((fr->description_offset + 1) * 0x9E3779B97F4A7C15ull) & (cap - 1);
    while (memo[h].key && !memo_holds(&memo[h], fr)) h = (h + 1) & (cap - 1);
    return &memo[h];
}

static void memo_store(field_memo *m, const siff_frame *fr, const field_value *v, int count) {
    m->key = fr->description_offset + 1;
    m->length = fr->description_length;
    m->used = 0;
    m->complete = 1;
    for (int j = 0; j < count; j++) {
        m->v[j] = v[j];
        if (v[j].used > m->used) m->used = v[j].used;
        if (!v[j].found || v[j].used >= fr->description_length) m->complete = 0;
    }
}

static void write_out(const field_reader *r, const field_value *v, uint64_t i, uint64_t n,
                      double *out_f64, uint64_t *out_u64, uint8_t *found) {
    for (int j = 0; j < r->count; j++) {
        const uint64_t at = (uint64_t)j * n + i;
        if (found) found[at] = v[j].found;
        if (out_f64) out_f64[at] = v[j].f64;
        if (out_u64) out_u64[at] = v[j].u64;
    }
}

int siff_read_fields(const siff_file *f, const uint64_t *frames, uint64_t n, int field,
                     double *out_f64, uint64_t *out_u64, uint8_t *found, siff_error *err) {
    siff_clear_error(err);
    field_reader r;
    r.count = needles_of(field, r.needles);
    if (!f || !r.count || (n && !frames))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "invalid arguments to siff_read_fields");
    for (uint64_t i = 0; i < n; i++) {
        int rc = siff_check_index(f, frames[i], err);
        if (rc) return rc;
    }
    r.f = f;
    r.field = field;
    r.chunk = NULL;
    for (int j = 0; j < r.count; j++) {
        r.lengths[j] = strlen(r.needles[j]);
        r.anchors[j] = siff_needle_anchor(r.needles[j], r.lengths[j]);
    }
    field_memo *memo = NULL;
    uint64_t cap = 16, last = 0; /* last: description offset + 1 of the previous frame */
    int rc = SIFF_OK;
    for (uint64_t i = 0; i < n && rc == SIFF_OK; i++) {
        const siff_frame *fr = &f->frames[frames[i]];
        field_value v[MAX_NEEDLES];
        field_memo *m = NULL;
        if (!memo && fr->description_offset + 1 <= last) {
            while (cap < 2 * (n - i)) cap *= 2; /* at most n - i more descriptions */
            memo = calloc((size_t)cap, sizeof *memo);
            if (!memo) {
                rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
                break;
            }
        }
        last = fr->description_offset + 1;
        if (memo) {
            m = memo_slot(memo, cap, fr);
            if (m->key) {
                write_out(&r, m->v, i, n, out_f64, out_u64, found);
                continue;
            }
        }
        rc = parse_description(&r, fr, v, err);
        if (rc) {
            if (err) err->frame = (int64_t)frames[i];
            break;
        }
        if (m) memo_store(m, fr, v, r.count);
        write_out(&r, v, i, n, out_f64, out_u64, found);
    }
    free(memo);
    free(r.chunk);
    return rc;
}
