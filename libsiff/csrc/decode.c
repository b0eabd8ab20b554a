/* decode.c - loads one frame's bytes (raw photon words, compressed count image and arrival
 * bins, or a plain TIFF image) after checking that the frame can be decoded. */
#include "siff_internal.h"

#include <stdlib.h>
#include <string.h>

void siff_scratch_free(siff_scratch *s) {
    if (!s) return;
    free(s->buf);
    memset(s, 0, sizeof *s);
}

#define SMALL_READ ((uint64_t)64 << 10)

static int ensure_buf(siff_scratch *s, uint64_t len, siff_error *err) {
    if (len <= s->buf_cap) return SIFF_OK;
    if (len > (uint64_t)SIZE_MAX / 2) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "frame too large");
    uint8_t *nb = realloc(s->buf, (size_t)len);
    if (!nb) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory (%llu bytes)",
                              (unsigned long long)len);
    s->buf = nb;
    s->buf_cap = len;
    return SIFF_OK;
}

int siff_check_frame(const siff_file *f, uint64_t frame, siff_error *err) {
    if (frame >= f->info.num_frames) {
        if (frame == f->info.damaged_frame)
            return siff_fail(err, SIFF_ERR_TRUNCATED, (int64_t)frame, -1,
                             "frame %llu is incomplete: the file ends inside it (%llu complete "
                             "frames)",
                             (unsigned long long)frame, (unsigned long long)f->info.num_frames);
        return siff_fail(err, SIFF_ERR_INDEX, (int64_t)frame, -1,
                         "frame %llu does not exist (the file has %llu frames)",
                         (unsigned long long)frame, (unsigned long long)f->info.num_frames);
    }
    const siff_frame *fr = &f->frames[frame];
    if (fr->flags & SIFF_FRAME_MULTI_STRIP)
        return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->ifd_offset,
                         "frame %llu is stored in several strips, which ScanImage never writes",
                         (unsigned long long)frame);
    if (fr->flags & SIFF_FRAME_BAD_DATA)
        return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->strip_offset,
                         "frame %llu: its data block (offset %llu, %llu bytes) lies outside the "
                         "file or is too small for a %u x %u frame",
                         (unsigned long long)frame, (unsigned long long)fr->strip_offset,
                         (unsigned long long)fr->strip_bytes, fr->height, fr->width);
    return SIFF_OK;
}

int siff_load_frame(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx, int what,
                    siff_scratch *s, siff_frame_data *fd, siff_error *err) {
    int rc = siff_check_frame(f, frame, err);
    if (rc) return rc;
    const siff_frame *fr = &f->frames[frame];
    memset(fd, 0, sizeof *fd);
    fd->tag = fr->siff_tag;
    fd->H = fr->height;
    fd->W = fr->width;
    fd->dy = (uint32_t)dy;
    fd->dx = (uint32_t)dx;
    const uint64_t pixels = (uint64_t)fd->H * fd->W;
    const int want_bins = what != SIFF_LOAD_COUNTS;
    /* a checked frame's bins alone: its count image is 10x their size on sparse frames */
    const int bins_only = what == SIFF_LOAD_BINS && fd->tag == 1 &&
                          siff_flag_get(&fr->counts_match);
    uint64_t off, len;
    if (fd->tag == 0) {
        fd->n = fr->strip_bytes / 8; /* trailing bytes that make no whole word are ignored */
        off = fr->strip_offset;
        len = fd->n * 8;
    } else if (bins_only) {
        fd->n = fr->strip_bytes / 2;
        off = fr->strip_offset;
        len = fd->n * 2;
    } else if (fd->tag == 1) {
        off = fr->strip_offset - 2 * pixels;
        len = 2 * pixels + (want_bins ? fr->strip_bytes / 2 * 2 : 0);
    } else {
        off = fr->strip_offset;
        len = 2 * pixels;
    }
    const uint8_t *data;
    fd->data_offset = off;
    fd->data_length = len;
    /* the bins alone of a sparse frame span a few pages: one positional read costs less
     * than mapping those pages (and their fault-around neighbours) and releasing them */
    const uint8_t *map = (!bins_only || len >= SMALL_READ) ? siff_io_map(&f->io) : NULL;
    if (map && siff_fits(off, len, f->io.size)) {
        data = map + off; /* zero copy (u16 blocks may be unaligned: siff_u16u) */
    } else {
        rc = ensure_buf(s, len, err);
        if (!rc) rc = siff_io_read(&f->io, off, s->buf, len, err);
        if (rc) {
            if (err) err->frame = (int64_t)frame;
            return rc;
        }
        data = s->buf;
    }
    if (fd->tag == 0) {
        fd->words = data;
        return SIFF_OK;
    }
    if (bins_only) {
        fd->bins = (const siff_u16u *)data;
        return SIFF_OK;
    }
    fd->counts = (const siff_u16u *)data;
    if (fd->tag == 1 && want_bins) {
        uint64_t total = 0;
        for (uint64_t p = 0; p < pixels; p++) total += fd->counts[p];
        if (total > fr->strip_bytes / 2)
            return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->strip_offset,
                             "frame %llu: the count image holds more photons (%llu) than the "
                             "%llu arrival bins stored",
                             (unsigned long long)frame, (unsigned long long)total,
                             (unsigned long long)(fr->strip_bytes / 2));
        fd->bins = fd->counts + pixels;
        fd->n = total;
        if (total == fr->strip_bytes / 2 && !siff_flag_get(&fr->counts_match))
            siff_flag_set((uint8_t *)&fr->counts_match); /* the index is not const, runs are */
    }
    return SIFF_OK;
}

void siff_span_add(const siff_file *f, siff_span *sp, const siff_frame_data *fd) {
    const uint64_t span_max = (uint64_t)16 << 20;
    const uint64_t lo = fd->data_offset, hi = fd->data_offset + fd->data_length;
    if (lo >= sp->lo && hi - sp->lo <= span_max) {
        if (hi > sp->hi) sp->hi = hi;
        return;
    }
    siff_span_end(f, sp);
    sp->lo = lo;
    sp->hi = hi;
}

void siff_span_end(const siff_file *f, siff_span *sp) {
    siff_io_release(&f->io, sp->lo, sp->hi - sp->lo);
    sp->lo = sp->hi = 0;
}
