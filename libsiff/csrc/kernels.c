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

static int process_range(worker *w) {
    const siff_file *f = w->f;
    siff_request *req = w->req;
    const kctx *k = w->k;
    const uint64_t n = k->n, P = k->pixels, L = k->L, R = k->R, words = k->words;
    siff_scratch s = {0};
    uint32_t *img = NULL;
    uint64_t *acc = NULL, *acc_tau = NULL;
    double *acc_re = NULL, *acc_im = NULL;
    int rc = SIFF_OK;
    const int kind = req->kind;
    if (kind == SIFF_OUT_IMAGE || kind == SIFF_OUT_MASK_SUMS) {
        img = malloc((size_t)P * 4);
        if (!img) return siff_fail(&w->err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    }
    if (R) {
        acc = calloc((size_t)(R * (kind == SIFF_OUT_HISTOGRAM ? L : 1)), 8);
        acc_tau = calloc((size_t)R, 8);
        acc_re = calloc((size_t)R, 8);
        acc_im = calloc((size_t)R, 8);
        if (!acc || !acc_tau || !acc_re || !acc_im)
            rc = siff_fail(&w->err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    }
    for (uint64_t i = w->begin; i < w->end && rc == SIFF_OK; i++) {
        const uint64_t fr = req->frames[i];
        const int8_t tag = f->frames[fr].siff_tag;
        uint64_t dy, dx;
        shift_of(req, k, i, &dy, &dx);
        const uint64_t *bits = R ? k->maskbits + (i % k->planes) * P * words : NULL;
        uint64_t np = 0;
        int use_photons = needs_photons(kind) || (kind == SIFF_OUT_MASK_SUMS && tag == 0);
        if (use_photons) {
            rc = siff_decode_photons(f, fr, dy, dx, &s, &np, &w->oor, &w->err);
        } else {
            rc = siff_decode_counts(f, fr, dy, dx, &s, img, &w->oor, &w->err);
        }
        if (rc) break;
        const uint32_t *pix = s.pix, *tau = s.tau;
        switch (kind) {
        case SIFF_OUT_IMAGE:
            if (req->sum_frames) {
                for (uint64_t p = 0; p < P; p++) w->sum_u64[p] += img[p];
            } else {
                uint16_t *o = req->out_u16 + i * P;
                for (uint64_t p = 0; p < P; p++) o[p] = (uint16_t)img[p];
            }
            break;
        case SIFF_OUT_MASK_SUMS:
            memset(acc, 0, (size_t)R * 8);
            if (use_photons) {
                for (uint64_t j = 0; j < np; j++) {
                    const uint64_t *b = bits + (uint64_t)pix[j] * words;
                    for (uint64_t wd = 0; wd < words; wd++)
                        for (uint64_t v = b[wd]; v; v &= v - 1) acc[wd * 64 + ctz64(v)]++;
                }
            } else {
                for (uint64_t p = 0; p < P; p++) {
                    uint32_t c = img[p];
                    if (!c) continue;
                    const uint64_t *b = bits + p * words;
                    for (uint64_t wd = 0; wd < words; wd++)
                        for (uint64_t v = b[wd]; v; v &= v - 1) acc[wd * 64 + ctz64(v)] += c;
                }
            }
            for (uint64_t r = 0; r < R; r++) req->out_u64[r * n + i] = acc[r];
            break;
        case SIFF_OUT_MASK_FLIM:
            memset(acc, 0, (size_t)R * 8);
            memset(acc_tau, 0, (size_t)R * 8);
            memset(acc_re, 0, (size_t)R * 8);
            memset(acc_im, 0, (size_t)R * 8);
            for (uint64_t j = 0; j < np; j++) {
                const uint64_t *b = bits + (uint64_t)pix[j] * words;
                for (uint64_t wd = 0; wd < words; wd++)
                    for (uint64_t v = b[wd]; v; v &= v - 1) {
                        uint64_t r = wd * 64 + ctz64(v);
                        acc[r]++;
                        acc_tau[r] += tau[j];
                        if (k->phasor) {
                            uint32_t t = mod_l(tau[j], (uint32_t)L);
                            acc_re[r] += k->cos_t[t];
                            acc_im[r] += k->sin_t[t];
                        }
                    }
            }
            for (uint64_t r = 0; r < R; r++) {
                req->out_u64[r * n + i] = acc[r];
                req->out_tau_u64[r * n + i] = acc_tau[r];
                if (k->phasor) {
                    req->out_re[r * n + i] = acc_re[r];
                    req->out_im[r * n + i] = acc_im[r];
                }
            }
            break;
        case SIFF_OUT_HISTOGRAM:
            if (!R) {
                uint64_t *h = req->sum_frames ? w->sum_u64 : req->out_u64 + i * L;
                for (uint64_t j = 0; j < np; j++) h[mod_l(tau[j], (uint32_t)L)]++;
            } else {
                memset(acc, 0, (size_t)(R * L) * 8);
                for (uint64_t j = 0; j < np; j++) {
                    const uint64_t *b = bits + (uint64_t)pix[j] * words;
                    uint32_t t = mod_l(tau[j], (uint32_t)L);
                    for (uint64_t wd = 0; wd < words; wd++)
                        for (uint64_t v = b[wd]; v; v &= v - 1) acc[(wd * 64 + ctz64(v)) * L + t]++;
                }
                for (uint64_t r = 0; r < R; r++) {
                    uint64_t *h = req->sum_frames ? w->sum_u64 + r * L : req->out_u64 + (r * n + i) * L;
                    for (uint64_t t = 0; t < L; t++) h[t] += acc[r * L + t];
                }
            }
            break;
        case SIFF_OUT_FULL: {
            uint16_t *o = req->out_u16 + i * P * L;
            for (uint64_t j = 0; j < np; j++) o[(uint64_t)pix[j] * L + mod_l(tau[j], (uint32_t)L)]++;
            break;
        }
        case SIFF_OUT_PIXEL_FLIM:
            if (req->sum_frames) {
                for (uint64_t j = 0; j < np; j++) {
                    w->sum_u64[pix[j]]++;
                    w->sum_tau[pix[j]] += tau[j];
                }
                if (k->phasor)
                    for (uint64_t j = 0; j < np; j++) {
                        uint32_t t = mod_l(tau[j], (uint32_t)L);
                        w->sum_re[pix[j]] += k->cos_t[t];
                        w->sum_im[pix[j]] += k->sin_t[t];
                    }
            } else {
                uint16_t *o = req->out_u16 + i * P;
                uint64_t *ts = req->out_tau_u64 + i * P;
                for (uint64_t j = 0; j < np; j++) {
                    o[pix[j]]++;
                    ts[pix[j]] += tau[j];
                }
                if (k->phasor) {
                    double *re = req->out_re + i * P, *im = req->out_im + i * P;
                    for (uint64_t j = 0; j < np; j++) {
                        uint32_t t = mod_l(tau[j], (uint32_t)L);
                        re[pix[j]] += k->cos_t[t];
                        im[pix[j]] += k->sin_t[t];
                    }
                }
            }
            break;
        default: break;
        }
    }
    free(img);
    free(acc);
    free(acc_tau);
    free(acc_re);
    free(acc_im);
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
    switch (req->kind) {
    case SIFF_OUT_IMAGE:
        if (req->sum_frames) b = P; else a = n * P;
        break;
    case SIFF_OUT_MASK_SUMS: b = R * n; break;
    case SIFF_OUT_MASK_FLIM: b = c = d = R * n; break;
    case SIFF_OUT_HISTOGRAM: b = (R ? R : 1) * rows * L; break;
    case SIFF_OUT_FULL: a = n * P * L; break;
    case SIFF_OUT_PIXEL_FLIM:
        if (req->sum_frames) { b = P; c = d = P; } else { a = n * P; c = d = n * P; }
        break;
    default: return siff_fail(err, SIFF_ERR_ARG, -1, -1, "unknown output kind %d", req->kind);
    }
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
    if (need16) memset(req->out_u16, 0, (size_t)need16 * 2);
    if (need64) memset(req->out_u64, 0, (size_t)need64 * 8);
    if (req->out_tau_u64 && needtau) memset(req->out_tau_u64, 0, (size_t)needtau * 8);
    if (k.phasor) {
        memset(req->out_re, 0, (size_t)needph * 8);
        memset(req->out_im, 0, (size_t)needph * 8);
        k.cos_t = malloc((size_t)k.L * 8);
        k.sin_t = malloc((size_t)k.L * 8);
        if (!k.cos_t || !k.sin_t) {
            free(k.cos_t);
            free(k.sin_t);
            return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
        }
        for (uint32_t t = 0; t < k.L; t++) {
            k.cos_t[t] = cos(SIFF_TWO_PI * (double)t / (double)k.L);
            k.sin_t[t] = sin(SIFF_TWO_PI * (double)t / (double)k.L);
        }
    }
    rc = build_masks(f, req, &k, err);
    if (rc) {
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
    free(k.cos_t);
    free(k.sin_t);
    return rc;
}
