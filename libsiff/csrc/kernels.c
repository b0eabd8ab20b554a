/* kernels.c - siff_run: (frames) x (optional shifts) x (optional masks) -> one output kind.
 * Frames are split into contiguous ranges over worker threads; every worker has its own
 * scratch memory and writes either disjoint output rows or its own partial sums. */
#include "siff_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <pthread.h>
#define SIFF_HAVE_THREADS 1
#endif

#define SIFF_TWO_PI 6.283185307179586476925286766559
#define MAX_THREADS 32

static inline unsigned ctz64(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctzll(v);
#else
    unsigned n = 0;
    while (!(v & 1)) { v >>= 1; n++; }
    return n;
#endif
}

typedef struct {
    uint32_t H, W;
    uint64_t pixels;
    uint32_t L;        /* histogram length, 0 when not needed */
    uint64_t R, words; /* masks and 64-bit words per pixel in the mask table */
    uint64_t planes;
    uint64_t *maskbits; /* planes * pixels * words */
    uint8_t *mask8;     /* one mask: planes * pixels bytes of 0/1 (fits the L1 cache better) */
    uint16_t *bits16;   /* 2..16 masks: planes * pixels 16-bit masks (a quarter of the u64 table) */
    double *cos_t, *sin_t;
    int phasor;
    uint64_t n;         /* requested frames */
} kctx;

typedef struct {
    const siff_file *f;
    siff_request *req;
    const kctx *k;
    uint64_t begin, end;
    uint64_t *sum_u64, *sum_tau; /* this worker's accumulators for sum_frames kinds */
    double *sum_re, *sum_im;
    uint64_t oor;
    int rc;
    siff_error err;
} worker;

static inline uint32_t mod_l(uint32_t t, uint32_t L) { return t < L ? t : t % L; }

static int needs_photons(int kind) {
    return kind == SIFF_OUT_MASK_FLIM || kind == SIFF_OUT_HISTOGRAM || kind == SIFF_OUT_FULL ||
           kind == SIFF_OUT_PIXEL_FLIM;
}

/* *out = x*y*z when that fits in 2^60 elements (no overflow downstream); 0 otherwise. */
static int mul3(uint64_t x, uint64_t y, uint64_t z, uint64_t *out) {
    const uint64_t cap = (uint64_t)1 << 60;
    if (x && y > cap / x) return 0;
    uint64_t xy = x * y;
    if (xy && z > cap / xy) return 0;
    *out = xy * z;
    return 1;
}

static void shift_of(const siff_request *req, const kctx *k, uint64_t i, uint64_t *dy,
                     uint64_t *dx) {
    *dy = *dx = 0;
    if (!req->shifts) return;
    int64_t sy = req->shifts[2 * i] % (int64_t)k->H, sx = req->shifts[2 * i + 1] % (int64_t)k->W;
    if (sy < 0) sy += k->H;
    if (sx < 0) sx += k->W;
    *dy = (uint64_t)sy;
    *dx = (uint64_t)sx;
}

/* Per-mask accumulators of one worker. */
typedef struct {
    uint64_t *count, *tau; /* R */
    double *re, *im;       /* R */
    uint64_t *hist;        /* R * L */
} mask_acc;

/* Adds a value to every mask whose bit is set for a pixel. */
#define FOR_MASKS(k, bits_row, R_VAR, ...)                                         \
    for (uint64_t wd_ = 0; wd_ < (k)->words; wd_++)                                \
        for (uint64_t v_ = (bits_row)[wd_]; v_; v_ &= v_ - 1) {                    \
            const uint64_t R_VAR = wd_ * 64 + ctz64(v_);                           \
            __VA_ARGS__                                                            \
        }

/* np.roll of a u16 image into dst (u16), or added into a u64 accumulator. */
static void roll_image(const siff_frame_data *fd, uint16_t *dst16, uint64_t *dst64) {
    const uint32_t H = fd->H, W = fd->W, split = W - fd->dx;
    for (uint32_t y = 0; y < H; y++) {
        uint32_t ry = y + fd->dy;
        if (ry >= H) ry -= H;
        const uint16_t *s = fd->counts + (uint64_t)y * W;
        if (dst16) {
            uint16_t *d = dst16 + (uint64_t)ry * W;
            memcpy(d + fd->dx, s, (size_t)split * 2);
            memcpy(d, s + split, (size_t)fd->dx * 2);
        } else {
            uint64_t *d = dst64 + (uint64_t)ry * W;
            for (uint32_t x = 0; x < split; x++) d[x + fd->dx] += s[x];
            for (uint32_t x = split; x < W; x++) d[x - split] += s[x];
        }
    }
}

static void frame_image(const kctx *k, const siff_frame_data *fd, uint16_t *o16, uint64_t *o64,
                        uint64_t *oor) {
    (void)k;
    if (fd->tag == 0) {
        if (o16) SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o16[pix]++;);
        else SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o64[pix]++;);
    } else {
        roll_image(fd, o16, o64);
    }
}

static void frame_mask_sums(const kctx *k, const siff_frame_data *fd, const uint64_t *bits,
                            const uint8_t *m8, const uint16_t *b16, uint64_t *acc,
                            uint64_t *oor) {
    const uint64_t words = k->words;
    if (fd->tag == 0) {
        if (m8)
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, acc[0] += m8[pix];);
        else if (b16)
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau,
                                 for (uint32_t v = b16[pix]; v; v &= v - 1) acc[ctz64(v)]++;);
        else
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau,
                                 const uint64_t *b = bits + (uint64_t)pix * words;
                                 FOR_MASKS(k, b, r, acc[r]++;));
    } else {
        SIFF_FOR_PIXELS(fd, pix, c, bins, const uint64_t *b = bits + (uint64_t)pix * words;
                        FOR_MASKS(k, b, r, acc[r] += c;));
    }
}

static void frame_mask_flim(const kctx *k, const siff_frame_data *fd, const uint64_t *bits,
                            const uint8_t *m8, const uint16_t *b16, mask_acc *a,
                            uint64_t *oor) {
    const uint64_t words = k->words;
    const uint32_t L = k->L;
    if (fd->tag == 0 && m8 && !k->phasor) { /* one mask: a byte of 0 or 1 per pixel */
        uint64_t cnt = 0, ts = 0;
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint64_t in = m8[pix];
                             cnt += in; ts += in * tau;);
        a->count[0] += cnt;
        a->tau[0] += ts;
    } else if (fd->tag == 0 && b16 && !k->phasor) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, for (uint32_t v = b16[pix]; v; v &= v - 1) {
            const unsigned r = ctz64(v);
            a->count[r]++;
            a->tau[r] += tau;
        });
    } else if (fd->tag == 0) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint64_t *b = bits + (uint64_t)pix * words;
                             FOR_MASKS(k, b, r, a->count[r]++; a->tau[r] += tau;
                                       if (k->phasor) {
                                           uint32_t t = mod_l(tau, L);
                                           a->re[r] += k->cos_t[t];
                                           a->im[r] += k->sin_t[t];
                                       }));
    } else {
        SIFF_FOR_PIXELS(fd, pix, c, bins, const uint64_t *b = bits + (uint64_t)pix * words;
                        int any = 0;
                        for (uint64_t wd = 0; wd < words; wd++) any |= b[wd] != 0;
                        if (!any) continue;
                        uint64_t ts = 0;
                        double re = 0, im = 0;
                        for (uint32_t q = 0; q < c; q++) ts += bins[q];
                        if (k->phasor)
                            for (uint32_t q = 0; q < c; q++) {
                                uint32_t t = mod_l(bins[q], L);
                                re += k->cos_t[t];
                                im += k->sin_t[t];
                            }
                        FOR_MASKS(k, b, r, a->count[r] += c; a->tau[r] += ts;
                                  a->re[r] += re; a->im[r] += im;));
    }
}

static void frame_histogram(const kctx *k, const siff_frame_data *fd, const uint64_t *bits,
                            uint64_t *h, uint64_t *oor) {
    const uint32_t L = k->L;
    const uint64_t words = k->words;
    if (!bits) {
        if (fd->tag == 0) {
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, h[mod_l(tau, L)]++;);
        } else {
            for (uint64_t j = 0; j < fd->n; j++) h[mod_l(fd->bins[j], L)]++;
        }
        return;
    }
    if (fd->tag == 0) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint64_t *b = bits + (uint64_t)pix * words;
                             FOR_MASKS(k, b, r, h[r * L + mod_l(tau, L)]++;));
    } else {
        SIFF_FOR_PIXELS(fd, pix, c, bins, const uint64_t *b = bits + (uint64_t)pix * words;
                        FOR_MASKS(k, b, r, for (uint32_t q = 0; q < c; q++)
                                               h[r * L + mod_l(bins[q], L)]++;));
    }
}

static void frame_full(const kctx *k, const siff_frame_data *fd, uint16_t *o, uint64_t *oor) {
    const uint32_t L = k->L;
    if (fd->tag == 0) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o[(uint64_t)pix * L + mod_l(tau, L)]++;);
    } else {
        SIFF_FOR_PIXELS(fd, pix, c, bins, uint16_t *px = o + (uint64_t)pix * L;
                        for (uint32_t q = 0; q < c; q++) px[mod_l(bins[q], L)]++;);
    }
}

/* Per-pixel photon counts (u16 or u64), bin sums and phasor sums. */
static void frame_pixel_flim(const kctx *k, const siff_frame_data *fd, uint16_t *c16,
                             uint64_t *c64, uint64_t *ts, double *re, double *im, uint64_t *oor) {
    const uint32_t L = k->L;
    if (fd->tag == 0) {
        if (!k->phasor && c16) SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, c16[pix]++; ts[pix] += tau;);
        else if (!k->phasor) SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, c64[pix]++; ts[pix] += tau;);
        else
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, uint32_t t = mod_l(tau, L);
                                 if (c16) c16[pix]++; else c64[pix]++;
                                 ts[pix] += tau; re[pix] += k->cos_t[t]; im[pix] += k->sin_t[t];);
        return;
    }
    SIFF_FOR_PIXELS(fd, pix, c, bins, uint64_t s = 0;
                    for (uint32_t q = 0; q < c; q++) s += bins[q];
                    ts[pix] += s;
                    if (c16) c16[pix] = (uint16_t)(c16[pix] + c); else c64[pix] += c;
                    if (k->phasor) {
                        double gr = 0, gi = 0;
                        for (uint32_t q = 0; q < c; q++) {
                            uint32_t t = mod_l(bins[q], L);
                            gr += k->cos_t[t];
                            gi += k->sin_t[t];
                        }
                        re[pix] += gr;
                        im[pix] += gi;
                    });
}

static int process_range(worker *w) {
    const siff_file *f = w->f;
    siff_request *req = w->req;
    const kctx *k = w->k;
    const uint64_t n = k->n, P = k->pixels, L = k->L, R = k->R;
    const int kind = req->kind, sum = req->sum_frames;
    siff_scratch s = {0};
    mask_acc a = {0};
    int rc = SIFF_OK;
    if (R) {
        a.count = calloc((size_t)R, 8);
        a.tau = calloc((size_t)R, 8);
        a.re = calloc((size_t)R, 8);
        a.im = calloc((size_t)R, 8);
        a.hist = kind == SIFF_OUT_HISTOGRAM ? calloc((size_t)(R * L), 8) : NULL;
        if (!a.count || !a.tau || !a.re || !a.im || (kind == SIFF_OUT_HISTOGRAM && !a.hist))
            rc = siff_fail(&w->err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    }
    uint64_t oor = 0;
    /* mapped pages already decoded are released in spans of a few MB (see io.c) */
    uint64_t span_lo = 0, span_hi = 0;
    const uint64_t span_max = (uint64_t)16 << 20, span_gap = (uint64_t)1 << 16;
    for (uint64_t i = w->begin; i < w->end && rc == SIFF_OK; i++) {
        uint64_t dy, dx;
        shift_of(req, k, i, &dy, &dx);
        siff_frame_data fd;
        rc = siff_load_frame(f, req->frames[i], dy, dx, needs_photons(kind), &s, &fd, &w->err);
        if (rc) break;
        const uint64_t *bits = R ? k->maskbits + (i % k->planes) * P * k->words : NULL;
        const uint8_t *m8 = k->mask8 ? k->mask8 + (i % k->planes) * P : NULL;
        const uint16_t *b16 = k->bits16 ? k->bits16 + (i % k->planes) * P : NULL;
        switch (kind) {
        case SIFF_OUT_IMAGE:
            if (!sum && fd.tag == 0) memset(req->out_u16 + i * P, 0, (size_t)P * 2);
            frame_image(k, &fd, sum ? NULL : req->out_u16 + i * P, sum ? w->sum_u64 : NULL, &oor);
            break;
        case SIFF_OUT_MASK_SUMS:
            memset(a.count, 0, (size_t)R * 8);
            frame_mask_sums(k, &fd, bits, m8, b16, a.count, &oor);
            for (uint64_t r = 0; r < R; r++) req->out_u64[r * n + i] = a.count[r];
            break;
        case SIFF_OUT_MASK_FLIM:
            memset(a.count, 0, (size_t)R * 8);
            memset(a.tau, 0, (size_t)R * 8);
            memset(a.re, 0, (size_t)R * 8);
            memset(a.im, 0, (size_t)R * 8);
            frame_mask_flim(k, &fd, bits, m8, b16, &a, &oor);
            for (uint64_t r = 0; r < R; r++) {
                req->out_u64[r * n + i] = a.count[r];
                req->out_tau_u64[r * n + i] = a.tau[r];
                if (k->phasor) {
                    req->out_re[r * n + i] = a.re[r];
                    req->out_im[r * n + i] = a.im[r];
                }
            }
            break;
        case SIFF_OUT_HISTOGRAM:
            if (!R) {
                if (!sum) memset(req->out_u64 + i * L, 0, (size_t)L * 8);
                frame_histogram(k, &fd, NULL, sum ? w->sum_u64 : req->out_u64 + i * L, &oor);
            } else {
                memset(a.hist, 0, (size_t)(R * L) * 8);
                frame_histogram(k, &fd, bits, a.hist, &oor);
                for (uint64_t r = 0; r < R; r++) {
                    if (sum)
                        for (uint64_t t = 0; t < L; t++) w->sum_u64[r * L + t] += a.hist[r * L + t];
                    else
                        memcpy(req->out_u64 + (r * n + i) * L, a.hist + r * L, (size_t)L * 8);
                }
            }
            break;
        case SIFF_OUT_FULL:
            memset(req->out_u16 + i * P * L, 0, (size_t)(P * L) * 2);
            frame_full(k, &fd, req->out_u16 + i * P * L, &oor);
            break;
        case SIFF_OUT_PIXEL_FLIM:
            if (sum)
                frame_pixel_flim(k, &fd, NULL, w->sum_u64, w->sum_tau, w->sum_re, w->sum_im, &oor);
            else {
                memset(req->out_u16 + i * P, 0, (size_t)P * 2);
                memset(req->out_tau_u64 + i * P, 0, (size_t)P * 8);
                if (k->phasor) {
                    memset(req->out_re + i * P, 0, (size_t)P * 8);
                    memset(req->out_im + i * P, 0, (size_t)P * 8);
                }
                frame_pixel_flim(k, &fd, req->out_u16 + i * P, NULL, req->out_tau_u64 + i * P,
                                 k->phasor ? req->out_re + i * P : NULL,
                                 k->phasor ? req->out_im + i * P : NULL, &oor);
            }
            break;
        default: break;
        }
        const uint64_t a = fd.data_offset, b = fd.data_offset + fd.data_length;
        if (a >= span_lo && a <= span_hi + span_gap && span_hi - span_lo < span_max) {
            if (b > span_hi) span_hi = b;
        } else {
            siff_io_release(&f->io, span_lo, span_hi - span_lo);
            span_lo = a;
            span_hi = b;
        }
    }
    siff_io_release(&f->io, span_lo, span_hi - span_lo);
    w->oor = oor;
    free(a.count);
    free(a.tau);
    free(a.re);
    free(a.im);
    free(a.hist);
    siff_scratch_free(&s);
    return rc;
}

#ifdef SIFF_HAVE_THREADS
static void *worker_main(void *arg) {
    worker *w = arg;
    w->rc = process_range(w);
    return NULL;
}
#endif

int siff_request_sizes(const siff_file *f, const siff_request *req, uint64_t *u16_len,
                       uint64_t *u64_len, uint64_t *tau_len, uint64_t *phasor_len,
                       siff_error *err) {
    siff_clear_error(err);
    if (!f || !req) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    uint64_t H = f->info.height, W = f->info.width;
    if (req->n_frames && req->frames && req->frames[0] < f->info.num_frames) {
        H = f->frames[req->frames[0]].height;
        W = f->frames[req->frames[0]].width;
    }
    const uint64_t P = H * W, n = req->n_frames, R = req->n_masks;
    const uint64_t L = f->info.tau_bins >= 0 ? (uint64_t)f->info.tau_bins + 2 : 0;
    const uint64_t rows = req->sum_frames ? 1 : n;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    int ok = 1; /* every size is a product of counts from the file and the caller: check it */
    switch (req->kind) {
    case SIFF_OUT_IMAGE:
        if (req->sum_frames) b = P; else ok = mul3(n, P, 1, &a);
        break;
    case SIFF_OUT_MASK_SUMS: ok = mul3(R, n, 1, &b); break;
    case SIFF_OUT_MASK_FLIM: ok = mul3(R, n, 1, &b); c = d = b; break;
    case SIFF_OUT_HISTOGRAM: ok = mul3(R ? R : 1, rows, L, &b); break;
    case SIFF_OUT_FULL: ok = mul3(n, P, L, &a); break;
    case SIFF_OUT_PIXEL_FLIM:
        if (req->sum_frames) { b = P; c = d = P; } else { ok = mul3(n, P, 1, &a); c = d = a; }
        break;
    default: return siff_fail(err, SIFF_ERR_ARG, -1, -1, "unknown output kind %d", req->kind);
    }
    if (!ok)
        return siff_fail(err, SIFF_ERR_NOMEM, -1, -1,
                         "the request is too large: %llu frames of %llu x %llu pixels (x %llu "
                         "arrival bins)",
                         (unsigned long long)n, (unsigned long long)H, (unsigned long long)W,
                         (unsigned long long)L);
    if (u16_len) *u16_len = a;
    if (u64_len) *u64_len = b;
    if (tau_len) *tau_len = c;
    if (phasor_len) *phasor_len = d;
    return SIFF_OK;
}

static int build_masks(const siff_file *f, const siff_request *req, kctx *k, siff_error *err) {
    (void)f;
    k->R = req->n_masks;
    if (!k->R) return SIFF_OK;
    k->planes = req->mask_planes;
    k->words = (k->R + 63) / 64;
    uint64_t cells = k->planes * k->pixels * k->words;
    k->maskbits = calloc((size_t)cells, 8);
    if (!k->maskbits) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for masks");
    const uint64_t plane_size = k->pixels;
    if (k->R == 1) {
        k->mask8 = malloc((size_t)(k->planes * plane_size));
        if (!k->mask8) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for masks");
        for (uint64_t q = 0; q < k->planes * plane_size; q++) k->mask8[q] = req->masks[q] != 0;
    } else if (k->R <= 16) {
        k->bits16 = calloc((size_t)(k->planes * plane_size), 2);
        if (!k->bits16) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for masks");
        for (uint64_t r = 0; r < k->R; r++)
            for (uint64_t q = 0; q < k->planes * plane_size; q++)
                if (req->masks[r * k->planes * plane_size + q]) k->bits16[q] |= (uint16_t)(1u << r);
    }
    for (uint64_t r = 0; r < k->R; r++)
        for (uint64_t pl = 0; pl < k->planes; pl++) {
            const uint8_t *m = req->masks + (r * k->planes + pl) * plane_size;
            uint64_t *dst = k->maskbits + pl * plane_size * k->words + r / 64;
            const uint64_t bit = (uint64_t)1 << (r % 64);
            for (uint64_t p = 0; p < plane_size; p++)
                if (m[p]) dst[p * k->words] |= bit;
        }
    return SIFF_OK;
}

int siff_run(const siff_file *f, siff_request *req, siff_error *err) {
    siff_clear_error(err);
    if (!f || !req) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    const uint64_t n = req->n_frames;
    if (n && !req->frames) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "no frame list");
    kctx k;
    memset(&k, 0, sizeof k);
    k.n = n;
    req->out_of_range_photons = 0;
    int io_rc = siff_io_check(&f->io, err);
    if (io_rc) return io_rc;
    /* every frame must exist, be decodable and share one shape */
    for (uint64_t i = 0; i < n; i++) {
        int rc = siff_check_frame(f, req->frames[i], err);
        if (rc) return rc;
        const siff_frame *fr = &f->frames[req->frames[i]];
        if (i == 0) {
            k.H = fr->height;
            k.W = fr->width;
        } else if (fr->height != k.H || fr->width != k.W) {
            return siff_fail(err, SIFF_ERR_SHAPE, (int64_t)req->frames[i], -1,
                             "frame %llu is %u x %u but frame %llu is %u x %u; request frames "
                             "of one shape",
                             (unsigned long long)req->frames[i], fr->height, fr->width,
                             (unsigned long long)req->frames[0], k.H, k.W);
        }
        if (needs_photons(req->kind) && fr->siff_tag == -1)
            return siff_fail(err, SIFF_ERR_NOT_FLIM, (int64_t)req->frames[i], -1,
                             "frame %llu is a plain TIFF image without photon arrival times",
                             (unsigned long long)req->frames[i]);
    }
    if (n == 0) {
        k.H = (uint32_t)f->info.height;
        k.W = (uint32_t)f->info.width;
    }
    k.pixels = (uint64_t)k.H * k.W;
    k.phasor = (req->kind == SIFF_OUT_MASK_FLIM || req->kind == SIFF_OUT_PIXEL_FLIM) &&
               req->out_re != NULL;
    int needs_l = req->kind == SIFF_OUT_HISTOGRAM || req->kind == SIFF_OUT_FULL || k.phasor;
    if (needs_l) {
        if (f->info.tau_bins < 0)
            return siff_fail(err, SIFF_ERR_NO_TAU_BINS, -1, -1,
                             "the header has no readable SI.hScan2D.hAcq.Tau_bins, so arrival-time "
                             "histograms and phasors cannot be computed");
        k.L = (uint32_t)f->info.tau_bins + 2;
    }
    if ((req->kind == SIFF_OUT_MASK_SUMS || req->kind == SIFF_OUT_MASK_FLIM) && req->n_masks == 0)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "this output kind needs at least one mask");
    if (req->n_masks && (!req->masks || req->mask_planes == 0))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "masks given without data or planes");
    if (!(req->phasor_period_bins >= 0) || req->phasor_period_bins > 1e12)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1,
                         "the phasor period must be a positive number of bins (or 0), not %g",
                         req->phasor_period_bins);
    if (req->kind == SIFF_OUT_FULL && req->sum_frames)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "per-pixel histograms cannot be summed");
    uint64_t need16, need64, needtau, needph;
    int rc = siff_request_sizes(f, req, &need16, &need64, &needtau, &needph, err);
    if (rc) return rc;
    if ((need16 && (!req->out_u16 || req->out_u16_len < need16)) ||
        (need64 && (!req->out_u64 || req->out_u64_len < need64)) ||
        (needtau && req->kind != SIFF_OUT_IMAGE &&
         (req->kind == SIFF_OUT_MASK_FLIM || req->kind == SIFF_OUT_PIXEL_FLIM) &&
         (!req->out_tau_u64 || req->out_tau_len < needtau)) ||
        (k.phasor && (!req->out_im || req->out_phasor_len < needph)))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "an output buffer is missing or too small");
    /* Per-frame outputs are zeroed by the workers frame by frame (in cache, in parallel,
     * and the first touch of a fresh numpy buffer is spread over the threads); summed
     * outputs are small and zeroed here. */
    if (req->sum_frames) {
        if (need64) memset(req->out_u64, 0, (size_t)need64 * 8);
        if (req->out_tau_u64 && needtau) memset(req->out_tau_u64, 0, (size_t)needtau * 8);
        if (k.phasor) {
            memset(req->out_re, 0, (size_t)needph * 8);
            memset(req->out_im, 0, (size_t)needph * 8);
        }
    }
    if (k.phasor) {
        k.cos_t = malloc((size_t)k.L * 8);
        k.sin_t = malloc((size_t)k.L * 8);
        if (!k.cos_t || !k.sin_t) {
            free(k.cos_t);
            free(k.sin_t);
            return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
        }
        const double period = req->phasor_period_bins > 0 ? req->phasor_period_bins : k.L;
        for (uint32_t t = 0; t < k.L; t++) {
            k.cos_t[t] = cos(SIFF_TWO_PI * (double)t / period);
            k.sin_t[t] = sin(SIFF_TWO_PI * (double)t / period);
        }
    }
    rc = build_masks(f, req, &k, err);
    if (rc) {
        free(k.maskbits);
        free(k.mask8);
        free(k.bits16);
        free(k.cos_t);
        free(k.sin_t);
        return rc;
    }

    int T = req->n_threads < 1 ? 1 : (req->n_threads > MAX_THREADS ? MAX_THREADS : req->n_threads);
#ifndef SIFF_HAVE_THREADS
    T = 1;
#endif
    if ((uint64_t)T > n / 2) T = n >= 2 ? (int)(n / 2) : 1;
    worker ws[MAX_THREADS];
    memset(ws, 0, sizeof ws);
    const int summed = req->sum_frames;
    uint64_t sum_len = summed ? need64 : 0;
    for (int t = 0; t < T && rc == SIFF_OK; t++) {
        worker *w = &ws[t];
        w->f = f;
        w->req = req;
        w->k = &k;
        w->begin = n * (uint64_t)t / (uint64_t)T;
        w->end = n * (uint64_t)(t + 1) / (uint64_t)T;
        siff_clear_error(&w->err);
        if (summed) {
            if (t == 0) { /* worker 0 accumulates straight into the outputs */
                w->sum_u64 = req->out_u64;
                w->sum_tau = req->out_tau_u64;
                w->sum_re = req->out_re;
                w->sum_im = req->out_im;
            } else {
                w->sum_u64 = calloc((size_t)sum_len, 8);
                w->sum_tau = calloc((size_t)(needtau ? needtau : 1), 8);
                w->sum_re = calloc((size_t)(needph ? needph : 1), 8);
                w->sum_im = calloc((size_t)(needph ? needph : 1), 8);
                if (!w->sum_u64 || !w->sum_tau || !w->sum_re || !w->sum_im)
                    rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
            }
        }
    }
    if (rc == SIFF_OK) {
#ifdef SIFF_HAVE_THREADS
        pthread_t th[MAX_THREADS];
        int started[MAX_THREADS] = {0};
        for (int t = 1; t < T; t++)
            started[t] = pthread_create(&th[t], NULL, worker_main, &ws[t]) == 0;
        ws[0].rc = process_range(&ws[0]);
        for (int t = 1; t < T; t++) {
            if (started[t]) pthread_join(th[t], NULL);
            else ws[t].rc = process_range(&ws[t]); /* could not start a thread: do it here */
        }
#else
        ws[0].rc = process_range(&ws[0]);
#endif
        for (int t = 0; t < T; t++) {
            req->out_of_range_photons += ws[t].oor;
            if (ws[t].rc && rc == SIFF_OK) {
                rc = ws[t].rc;
                if (err) *err = ws[t].err;
            }
        }
        if (rc == SIFF_OK) rc = siff_io_check(&f->io, err); /* a page vanished mid-run */
        if (rc == SIFF_OK && summed)
            for (int t = 1; t < T; t++) {
                for (uint64_t j = 0; j < sum_len; j++) req->out_u64[j] += ws[t].sum_u64[j];
                if (req->kind == SIFF_OUT_PIXEL_FLIM) {
                    for (uint64_t j = 0; j < needtau; j++) req->out_tau_u64[j] += ws[t].sum_tau[j];
                    if (k.phasor)
                        for (uint64_t j = 0; j < needph; j++) {
                            req->out_re[j] += ws[t].sum_re[j];
                            req->out_im[j] += ws[t].sum_im[j];
                        }
                }
            }
    }
    if (summed)
        for (int t = 1; t < T; t++) {
            free(ws[t].sum_u64);
            free(ws[t].sum_tau);
            free(ws[t].sum_re);
            free(ws[t].sum_im);
        }
    free(k.maskbits);
    free(k.mask8);
    free(k.bits16);
    free(k.cos_t);
    free(k.sin_t);
    return rc;
}
