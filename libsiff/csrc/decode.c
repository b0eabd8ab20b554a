/* decode.c - one frame's bytes to photons (registered pixel index + arrival bin) or to a
 * registered count image. Raw, compressed and plain-TIFF frames. */
#include "siff_internal.h"

#include <stdlib.h>
#include <string.h>

void siff_scratch_free(siff_scratch *s) {
    if (!s) return;
    free(s->buf);
    free(s->pix);
    free(s->tau);
    memset(s, 0, sizeof *s);
}

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

static int ensure_photons(siff_scratch *s, uint64_t n, siff_error *err) {
    if (n <= s->photon_cap) return SIFF_OK;
    if (n > (uint64_t)SIZE_MAX / 8) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "frame too large");
    uint32_t *np = realloc(s->pix, (size_t)n * 4);
    if (!np) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    s->pix = np;
    uint32_t *nt = realloc(s->tau, (size_t)n * 4);
    if (!nt) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    s->tau = nt;
    s->photon_cap = n;
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

static int read_into(const siff_file *f, uint64_t frame, uint64_t off, uint64_t len,
                     siff_scratch *s, siff_error *err) {
    int rc = ensure_buf(s, len, err);
    if (!rc) rc = siff_io_read(&f->io, off, s->buf, len, err);
    if (rc && err) err->frame = (int64_t)frame;
    return rc;
}

/* Reduces a raw photon's coordinates into the frame (counting those out of range) and
 * registers them. dy < H and dx < W. */
static inline uint32_t raw_pixel(uint64_t w, uint32_t H, uint32_t W, uint32_t dy, uint32_t dx,
                                 uint64_t *oor) {
    uint32_t y = (uint32_t)(w >> 48), x = (uint32_t)((w >> 32) & 0xffffu);
    if (y >= H || x >= W) {
        (*oor)++;
        y %= H;
        x %= W;
    }
    y += dy;
    if (y >= H) y -= H;
    x += dx;
    if (x >= W) x -= W;
    return y * W + x;
}

int siff_decode_photons(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx,
                        siff_scratch *s, uint64_t *n_out, uint64_t *oor, siff_error *err) {
    int rc = siff_check_frame(f, frame, err);
    if (rc) return rc;
    const siff_frame *fr = &f->frames[frame];
    const uint32_t H = fr->height, W = fr->width;
    if (fr->siff_tag == -1)
        return siff_fail(err, SIFF_ERR_NOT_FLIM, (int64_t)frame, -1,
                         "frame %llu is a plain TIFF image without photon arrival times",
                         (unsigned long long)frame);
    if (fr->siff_tag == 0) {
        uint64_t n = fr->strip_bytes / 8;
        rc = read_into(f, frame, fr->strip_offset, n * 8, s, err);
        if (!rc) rc = ensure_photons(s, n, err);
        if (rc) return rc;
        const uint8_t *p = s->buf;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t w;
            memcpy(&w, p + 8 * i, 8);
            s->pix[i] = raw_pixel(w, H, W, (uint32_t)dy, (uint32_t)dx, oor);
            s->tau[i] = (uint32_t)w;
        }
        *n_out = n;
        return SIFF_OK;
    }
    /* compressed: count image, then arrival bins grouped by pixel in row-major order */
    const uint64_t pixels = (uint64_t)H * W, nt = fr->strip_bytes / 2;
    rc = read_into(f, frame, fr->strip_offset - 2 * pixels, 2 * pixels + 2 * nt, s, err);
    if (!rc) rc = ensure_photons(s, nt, err);
    if (rc) return rc;
    const uint16_t *counts = (const uint16_t *)s->buf;
    const uint16_t *bins = counts + pixels;
    uint64_t j = 0;
    for (uint32_t y = 0; y < H; y++) {
        uint32_t ry = y + (uint32_t)dy;
        if (ry >= H) ry -= H;
        const uint16_t *row = counts + (uint64_t)y * W;
        for (uint32_t x = 0; x < W; x++) {
            uint32_t c = row[x];
            if (!c) continue;
            if (c > nt - j)
                return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->strip_offset,
                                 "frame %llu: the count image holds more photons than the %llu "
                                 "arrival bins stored",
                                 (unsigned long long)frame, (unsigned long long)nt);
            uint32_t rx = x + (uint32_t)dx;
            if (rx >= W) rx -= W;
            uint32_t rp = ry * W + rx;
            for (uint32_t k = 0; k < c; k++, j++) {
                s->pix[j] = rp;
                s->tau[j] = bins[j];
            }
        }
    }
    *n_out = j;
    return SIFF_OK;
}

/* dst = np.roll(src, (dy, dx)) for a u16 image, widened to u32. */
static void roll_u16_to_u32(const uint16_t *src, uint32_t H, uint32_t W, uint32_t dy,
                            uint32_t dx, uint32_t *dst) {
    for (uint32_t y = 0; y < H; y++) {
        uint32_t ry = y + dy;
        if (ry >= H) ry -= H;
        const uint16_t *s = src + (uint64_t)y * W;
        uint32_t *d = dst + (uint64_t)ry * W;
        uint32_t split = W - dx; /* source columns [0, split) go to [dx, W) */
        for (uint32_t x = 0; x < split; x++) d[x + dx] = s[x];
        for (uint32_t x = split; x < W; x++) d[x - split] = s[x];
    }
}

int siff_decode_counts(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx,
                       siff_scratch *s, uint32_t *img, uint64_t *oor, siff_error *err) {
    int rc = siff_check_frame(f, frame, err);
    if (rc) return rc;
    const siff_frame *fr = &f->frames[frame];
    const uint32_t H = fr->height, W = fr->width;
    const uint64_t pixels = (uint64_t)H * W;
    if (fr->siff_tag == 0) {
        uint64_t n = fr->strip_bytes / 8;
        rc = read_into(f, frame, fr->strip_offset, n * 8, s, err);
        if (rc) return rc;
        memset(img, 0, (size_t)pixels * 4);
        const uint8_t *p = s->buf;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t w;
            memcpy(&w, p + 8 * i, 8);
            img[raw_pixel(w, H, W, (uint32_t)dy, (uint32_t)dx, oor)]++;
        }
        return SIFF_OK;
    }
    uint64_t start = fr->siff_tag == 1 ? fr->strip_offset - 2 * pixels : fr->strip_offset;
    rc = read_into(f, frame, start, 2 * pixels, s, err);
    if (rc) return rc;
    roll_u16_to_u32((const uint16_t *)s->buf, H, W, (uint32_t)dy, (uint32_t)dx, img);
    return SIFF_OK;
}
