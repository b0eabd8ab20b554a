/* fields.c - numeric fields of per-frame description texts, for many frames at once. */
#include "siff_internal.h"

#include <math.h>
#include <stdlib.h>

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

int siff_read_fields(const siff_file *f, const uint64_t *frames, uint64_t n, int field,
                     double *out_f64, uint64_t *out_u64, uint8_t *found, siff_error *err) {
    siff_clear_error(err);
    const char *needle = needle_of(field);
    if (!f || !needle || (n && (!frames || !found)))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "invalid arguments to siff_read_fields");
    char *buf = NULL;
    uint64_t cap = 0;
    int rc = SIFF_OK;
    for (uint64_t i = 0; i < n && rc == SIFF_OK; i++) {
        uint64_t fr = frames[i];
        found[i] = 0;
        if (out_f64) out_f64[i] = NAN;
        if (out_u64) out_u64[i] = 0;
        if (fr >= f->info.num_frames) {
            rc = siff_fail(err, SIFF_ERR_INDEX, (int64_t)fr, -1,
                           "frame %llu does not exist (the file has %llu frames)",
                           (unsigned long long)fr, (unsigned long long)f->info.num_frames);
            break;
        }
        if (f->frames[fr].flags & SIFF_FRAME_BAD_DESCRIPTION) continue; /* reported as missing */
        uint64_t len = f->frames[fr].description_length;
        if (len > cap) {
            char *nb = realloc(buf, (size_t)len);
            if (!nb) { rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory"); break; }
            buf = nb;
            cap = len;
        }
        rc = siff_read_description(f, fr, buf, len, NULL, err);
        if (rc) break;
        if (field == SIFF_FIELD_HAS_APPENDED_TEXT) {
            const char *v;
            uint64_t vl;
            found[i] = (uint8_t)siff_text_find_value(buf, len, needle, &v, &vl);
            continue;
        }
        const char *v;
        uint64_t vl;
        if (!siff_text_find_value(buf, len, needle, &v, &vl)) continue;
        if (field == SIFF_FIELD_FRAME_TIMESTAMP) {
            double d;
            if (siff_parse_f64(v, vl, &d)) {
                found[i] = 1;
                if (out_f64) out_f64[i] = d;
            }
        } else {
            uint64_t u;
            if (siff_parse_u64(v, vl, &u)) {
                found[i] = 1;
                if (out_u64) out_u64[i] = u;
            }
        }
    }
    free(buf);
    return rc;
}
