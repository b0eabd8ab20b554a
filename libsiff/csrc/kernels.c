/* kernels.c - siff_run: (frames) x (optional shifts) x (optional masks) -> one output kind.
 * Frames are split into contiguous ranges over worker threads; every worker has its own
 * scratch memory and writes either disjoint output rows or its own partial sums.
 *
 * Masks become one table of class ids per mask plane: every pixel holds the id of the set of
 * masks it belongs to (0: none). Photons and pixels add to per-class accumulators, whatever
 * the number of masks, so 10 masks cost what one does; the classes are spread to the masks
 * once per frame. The table takes 1 byte per pixel up to 256 distinct sets (2 up to 65536).
 * Where the masks are runs along rows (not too fragmented), compressed frames are read run by
 * run instead: counts, bin sums, phasors and histograms of the pixels a mask covers only. */
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
/* Interleaved copies of the small accumulators: consecutive photons of one class (or bin)
 * add to different copies, so they do not wait on each other's stores. */
#define COPIES 4
#define HIST_COPIES_MAX_BYTES ((uint64_t)1 << 20)
/* Compressed mask sums prefetch the mask runs of the row this many rows ahead. */
#define PREFETCH_ROWS 4
/* Pooled histograms of compressed frames count every possible u16 bin in 32 bits (FULL16
 * slots per copy) and fold them modulo L at the end: no modulo per photon. The 1 MB of tables
 * pays off from about this many arrival bins in the request. */
#define FULL16 65536u
#define FULL16_MIN_BINS ((uint64_t)1 << 20)

static inline unsigned ctz64(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctzll(v);
#else
    unsigned n = 0;
    while (!(v & 1)) { v >>= 1; n++; }
    return n;
#endif
}

/* Pixels x .. x + len - 1 of one row all belong to mask set cls (never 0). */
typedef struct class_run {
    uint32_t x, len, cls;
} class_run;

typedef struct {
    uint32_t H, W;
    uint64_t pixels;
    uint64_t n;         /* requested frames */
    uint32_t L;         /* histogram length, 0 when not needed */
    /* masks as class ids (see the top of the file) */
    uint64_t R, planes;
    uint64_t classes;      /* distinct mask sets; class 0 is the empty set (1 without masks) */
    uint64_t words;        /* 64-bit words per mask set */
    uint64_t *class_bits;  /* classes * words: the masks of each class */
    int id_bytes;          /* 1, 2 or 4 */
    void *ids;             /* planes * pixels class ids */
    uint64_t hist_copies;  /* 1 or COPIES copies of per-class histograms */
    int hist_full16;       /* pooled summed histogram: compressed frames count in hist32 */
    /* the same tables as runs of one non-empty class along each row (NULL when the masks
     * are too fragmented): compressed count images are summed run by run */
    struct class_run *runs;
    uint64_t *row_runs;    /* planes * H + 1: runs of row y of plane p start at [p * H + y] */
    /* phasors */
    int phasor;
    double *cos_t, *sin_t;
    /* final per-pixel values (per-frame SIFF_OUT_PIXEL_FLIM) */
    int final_phasor;
    double offset, rot_re, rot_im;
} kctx;

/* One worker's per-class accumulators (COPIES * classes each) and per-pixel scratch. */
typedef struct {
    uint64_t *count, *tau;
    double *re, *im;
    uint64_t *hist;        /* hist_copies * classes * L */
    uint32_t *hist32;      /* COPIES * FULL16 (k->hist_full16), and the bins counted in it */
    uint64_t hist32_bins;
    uint32_t *pixel_count; /* pixels: raw frame counts without 16-bit wrap */
} accs;

typedef struct {
    const siff_file *f;
    siff_request *req;
    const kctx *k;
    uint64_t begin, end;
    uint64_t *sum_u64, *sum_tau; /* this worker's accumulators for sum_frames kinds */
    double *sum_re, *sum_im;
    uint64_t oor, clamped;
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

/* Runs BODY with IDS bound to the class-id table of a plane and ID_T to its element type
 * (the loops are compiled once per width instead of testing the width per photon). */
#define WITH_IDS(k, plane, IDS, ID_T, ...)                                               \
    do {                                                                                 \
        const uint64_t at_ = (plane) * (k)->pixels;                                      \
        if ((k)->id_bytes == 1) {                                                        \
            typedef uint8_t ID_T;                                                        \
            const ID_T *IDS = (const ID_T *)(k)->ids + at_;                              \
            __VA_ARGS__                                                                  \
        } else if ((k)->id_bytes == 2) {                                                 \
            typedef uint16_t ID_T;                                                       \
            const ID_T *IDS = (const ID_T *)(k)->ids + at_;                              \
            __VA_ARGS__                                                                  \
        } else {                                                                         \
            typedef uint32_t ID_T;                                                       \
            const ID_T *IDS = (const ID_T *)(k)->ids + at_;                              \
            __VA_ARGS__                                                                  \
        }                                                                                \
    } while (0)

/* True when the 8 ids at ID are all 0 (no mask): lets compressed rows skip unmasked runs. */
#define NO_MASK8(ID) (((ID)[0] | (ID)[1] | (ID)[2] | (ID)[3] | (ID)[4] | (ID)[5] | (ID)[6] | \
                       (ID)[7]) == 0)

static inline uint64_t sum8(const siff_u16u *c) {
    return (uint64_t)c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];
}

/* ---- intensity ---- */

/* np.roll of a u16 image into dst (u16), or added into a u64 accumulator. */
static void roll_image(const siff_frame_data *fd, uint16_t *dst16, uint64_t *dst64) {
    const uint32_t H = fd->H, W = fd->W, split = W - fd->dx;
    for (uint32_t y = 0; y < H; y++) {
        uint32_t ry = y + fd->dy;
        if (ry >= H) ry -= H;
        const siff_u16u *s = fd->counts + (uint64_t)y * W;
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

/* Stores u32 counts as u16, clamped at 65535; returns how many were clamped. */
static uint64_t store_clamped(const uint32_t *c32, uint16_t *o16, uint64_t pixels) {
    uint64_t clamped = 0;
    for (uint64_t p = 0; p < pixels; p++) {
        const uint32_t c = c32[p];
        clamped += c > 0xffffu;
        o16[p] = (uint16_t)(c > 0xffffu ? 0xffffu : c);
    }
    return clamped;
}

/* One frame's counts into o16 (a fresh frame) or added to o64. A raw frame of more than
 * 65535 photons could wrap a u16 pixel: it is counted in 32 bits and clamped. */
static void frame_image(const kctx *k, const siff_frame_data *fd, uint16_t *o16, uint64_t *o64,
                        accs *a, uint64_t *oor, uint64_t *clamped) {
    if (fd->tag != 0) {
        roll_image(fd, o16, o64);
    } else if (o64) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o64[pix]++;);
    } else if (fd->n <= 0xffffu) {
        memset(o16, 0, (size_t)k->pixels * 2);
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o16[pix]++;);
    } else {
        uint32_t *c32 = a->pixel_count;
        memset(c32, 0, (size_t)k->pixels * 4);
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, c32[pix]++;);
        *clamped += store_clamped(c32, o16, k->pixels);
    }
}

/* ---- per-class accumulation (masks) ---- */

/* Sum of n counts (a loop the compiler vectorises: 32-bit partial sums cannot overflow). */
static uint64_t sum_u16(const siff_u16u *c, uint64_t n) {
    uint64_t s = 0;
    while (n) {
        const uint32_t m = n > 65536 ? 65536 : (uint32_t)n;
        uint32_t part = 0;
        for (uint32_t i = 0; i < m; i++) part += c[i];
        s += part;
        c += m;
        n -= m;
    }
    return s;
}

/* Photon counts per class of a compressed (or TIFF) count image, run by run: each run of
 * registered pixels maps to at most two contiguous pieces of the file row. */
static void frame_class_sums_runs(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                                  uint64_t *cnt) {
    const uint32_t H = fd->H, W = fd->W, dy = fd->dy, dx = fd->dx, split = W - dx;
    const uint64_t *rows = k->row_runs + plane * H;
    for (uint32_t y = 0; y < H; y++) {
        uint32_t ry = y + dy;
        if (ry >= H) ry -= H;
        const siff_u16u *row = fd->counts + (uint64_t)y * W;
#if defined(__GNUC__) || defined(__clang__)
        /* the runs of a few rows ahead: each run is a short piece of its own row, which the
         * hardware's sequential prefetch would not foresee */
        if (y + PREFETCH_ROWS < H) {
            uint32_t py = ry + PREFETCH_ROWS;
            if (py >= H) py -= H;
            const siff_u16u *prow = row + (uint64_t)PREFETCH_ROWS * W;
            for (uint64_t j = rows[py]; j < rows[py + 1]; j++) {
                const class_run r = k->runs[j];
                const uint32_t x0 = r.x >= dx ? r.x - dx : r.x + split;
                for (uint32_t x = 0; x < r.len; x += 32) __builtin_prefetch(prow + x0 + x);
            }
        }
#endif
        for (uint64_t j = rows[ry]; j < rows[ry + 1]; j++) {
            const class_run r = k->runs[j];
            const uint32_t x1 = r.x + r.len;
            uint64_t s = 0;
            if (x1 > dx) { /* registered x >= dx holds file pixel x - dx */
                const uint32_t lo = r.x > dx ? r.x : dx;
                s += sum_u16(row + (lo - dx), x1 - lo);
            }
            if (r.x < dx) /* registered x < dx holds file pixel x + W - dx */
                s += sum_u16(row + r.x + split, (x1 < dx ? x1 : dx) - r.x);
            cnt[r.cls] += s;
        }
    }
}

/* Photon counts per class. Compressed frames need only their count images. */
static void frame_class_sums(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                             uint64_t *cnt, uint64_t *oor) {
    const uint64_t C = k->classes;
    if (fd->tag != 0 && k->runs) {
        frame_class_sums_runs(k, fd, plane, cnt);
        return;
    }
    if (fd->tag == 0) {
        WITH_IDS(k, plane, ids, cls_t,
                 SIFF_FOR_RAW_PHOTONS_I(fd, oor, j, pix, tau, cnt[(j & 3) * C + ids[pix]]++;););
        return;
    }
    WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_SEGMENTS(fd, c, at, len, {
        const cls_t *id = ids + at;
        for (uint32_t x = 0; x < len; x++) {
            if (!(x & 7) && x + 8 <= len && NO_MASK8(id + x)) {
                x += 7;
                continue;
            }
            cnt[(x & 3) * C + id[x]] += c[x];
        }
    }););
}

/* Walks the mask runs of a compressed frame row by row. Each run maps to at most two pieces
 * of the file row: file pixels [LO, HI) of class CLS, holding NB arrival bins that start at PB;
 * X0 is the file pixel where the piece's segment starts (file pixels landing at registered
 * x >= dx, then those below, each in file order: the per-pixel loops' order). */
#define FOR_RUN_PIECES(k, fd, plane, ROW, LO, HI, X0, CLS, PB, NB, ...)                     \
    do {                                                                                   \
        const uint32_t H_ = (fd)->H, W_ = (fd)->W, dy_ = (fd)->dy, dx_ = (fd)->dx;         \
        const uint32_t split_ = W_ - dx_;                                                  \
        const uint64_t *rows_ = (k)->row_runs + (plane) * H_;                              \
        const siff_u16u *b_ = (fd)->bins;                                                  \
        for (uint32_t y_ = 0; y_ < H_; y_++) {                                             \
            uint32_t ry_ = y_ + dy_;                                                       \
            if (ry_ >= H_) ry_ -= H_;                                                      \
            const siff_u16u *ROW = (fd)->counts + (uint64_t)y_ * W_;                       \
            const siff_u16u *PB = b_;                                                      \
            uint32_t fx_ = 0; /* file pixels before fx_ have their bins before PB */       \
            for (int seg_ = 0; seg_ < 2; seg_++) {                                         \
                const uint32_t X0 = seg_ ? split_ : 0;                                     \
                (void)X0;                                                                  \
                for (uint64_t j_ = rows_[ry_]; j_ < rows_[ry_ + 1]; j_++) {                \
                    const class_run r_ = (k)->runs[j_];                                    \
                    const uint32_t x1_ = r_.x + r_.len;                                    \
                    uint32_t LO, HI;                                                       \
                    if (seg_ == 0) {                                                       \
                        if (x1_ <= dx_) continue;                                          \
                        LO = (r_.x > dx_ ? r_.x : dx_) - dx_;                              \
                        HI = x1_ - dx_;                                                    \
                    } else {                                                               \
                        if (r_.x >= dx_) continue;                                         \
                        LO = r_.x + split_;                                                \
                        HI = (x1_ < dx_ ? x1_ : dx_) + split_;                             \
                    }                                                                      \
                    PB += sum_u16(ROW + fx_, LO - fx_);                                    \
                    const uint64_t NB = sum_u16(ROW + LO, HI - LO);                        \
                    const uint64_t CLS = r_.cls;                                           \
                    __VA_ARGS__                                                            \
                    PB += NB;                                                              \
                    fx_ = HI;                                                              \
                }                                                                          \
            }                                                                              \
            b_ = PB + sum_u16(ROW + fx_, W_ - fx_);                                        \
        }                                                                                  \
    } while (0)

/* Photon counts and arrival-bin sums per class of a compressed frame, run by run: the bins
 * of a run's pixels are contiguous, so a run costs two vectorised sums (counts, bins). */
static void frame_class_flim_runs(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                                  uint64_t *cnt, uint64_t *ts) {
    FOR_RUN_PIECES(k, fd, plane, row, lo, hi, x0, cls, pb, nb, {
        (void)lo;
        (void)hi;
        cnt[cls] += nb;
        ts[cls] += sum_u16(pb, nb);
    });
}

/* As frame_class_flim_runs, with phasor sums: pixel by pixel within a run, into the copy
 * (segment x) % 4 as the per-pixel loop does, so every sum adds in the same order. */
static void frame_class_phasor_runs(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                                    accs *a) {
    const uint64_t C = k->classes;
    const uint32_t L = k->L;
    const double *cs = k->cos_t, *sn = k->sin_t;
    uint64_t *cnt = a->count, *ts = a->tau;
    double *re = a->re, *im = a->im;
    FOR_RUN_PIECES(k, fd, plane, row, lo, hi, x0, cls, pb, nb, {
        const siff_u16u *b = pb;
        (void)nb;
        for (uint32_t fx = lo; fx < hi; fx++) {
            const uint32_t cx = row[fx];
            if (!cx) continue;
            const uint64_t q = ((fx - x0) & 3) * C + cls;
            uint64_t sum = 0;
            double gr = 0, gi = 0;
            for (uint32_t r = 0; r < cx; r++) {
                const uint32_t t = mod_l(b[r], L);
                sum += b[r];
                gr += cs[t];
                gi += sn[t];
            }
            cnt[q] += cx;
            ts[q] += sum;
            re[q] += gr;
            im[q] += gi;
            b += cx;
        }
    });
}

/* Arrival histograms per class of a compressed frame, run by run (the bins of a run are
 * contiguous; consecutive bins go to different copies). */
static void frame_class_histogram_runs(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                                       uint64_t *h) {
    const uint64_t L = k->L, cm = k->hist_copies - 1, cl = k->classes * L;
    FOR_RUN_PIECES(k, fd, plane, row, lo, hi, x0, cls, pb, nb, {
        (void)lo;
        (void)hi;
        uint64_t *hc = h + cls * L;
        for (uint64_t r = 0; r < nb; r++) hc[(r & cm) * cl + mod_l(pb[r], (uint32_t)L)]++;
    });
}

/* Photon counts, arrival-bin sums and (optionally) phasor sums per class. */
static void frame_class_flim(const kctx *k, const siff_frame_data *fd, uint64_t plane, accs *a,
                             uint64_t *oor) {
    const uint64_t C = k->classes;
    const uint32_t L = k->L;
    uint64_t *cnt = a->count, *ts = a->tau;
    double *re = a->re, *im = a->im;
    const double *cs = k->cos_t, *sn = k->sin_t;
    if (fd->tag != 0 && k->runs) {
        if (k->phasor) frame_class_phasor_runs(k, fd, plane, a);
        else frame_class_flim_runs(k, fd, plane, cnt, ts);
        return;
    }
    if (fd->tag == 0) {
        if (!k->phasor)
            WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_RAW_PHOTONS_I(fd, oor, j, pix, tau, {
                const uint64_t q = (j & 3) * C + ids[pix];
                cnt[q]++;
                ts[q] += tau;
            }););
        else
            WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_RAW_PHOTONS_I(fd, oor, j, pix, tau, {
                const uint64_t q = (j & 3) * C + ids[pix];
                const uint32_t t = mod_l(tau, L);
                cnt[q]++;
                ts[q] += tau;
                re[q] += cs[t];
                im[q] += sn[t];
            }););
        return;
    }
    const siff_u16u *b = fd->bins;
    WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_SEGMENTS(fd, c, at, len, {
        const cls_t *id = ids + at;
        for (uint32_t x = 0; x < len; x++) {
            if (!(x & 7) && x + 8 <= len && NO_MASK8(id + x)) {
                b += sum8(c + x);
                x += 7;
                continue;
            }
            const uint32_t cx = c[x];
            if (id[x] && cx) {
                const uint64_t q = (x & 3) * C + id[x];
                uint64_t s = 0;
                for (uint32_t r = 0; r < cx; r++) s += b[r];
                cnt[q] += cx;
                ts[q] += s;
                if (k->phasor) {
                    double gr = 0, gi = 0;
                    for (uint32_t r = 0; r < cx; r++) {
                        const uint32_t t = mod_l(b[r], L);
                        gr += cs[t];
                        gi += sn[t];
                    }
                    re[q] += gr;
                    im[q] += gi;
                }
            }
            b += cx;
        }
    }););
}

/* Arrival histograms per class (hist: hist_copies * classes * L). */
static void frame_class_histogram(const kctx *k, const siff_frame_data *fd, uint64_t plane,
                                  uint64_t *h, uint64_t *oor) {
    const uint64_t C = k->classes, L = k->L, cm = k->hist_copies - 1, cl = C * L;
    if (fd->tag != 0 && k->runs) {
        frame_class_histogram_runs(k, fd, plane, h);
        return;
    }
    if (fd->tag == 0) {
        WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_RAW_PHOTONS_I(fd, oor, j, pix, tau, {
            h[(j & cm) * cl + ids[pix] * L + mod_l(tau, (uint32_t)L)]++;
        }););
        return;
    }
    const siff_u16u *b = fd->bins;
    WITH_IDS(k, plane, ids, cls_t, SIFF_FOR_SEGMENTS(fd, c, at, len, {
        const cls_t *id = ids + at;
        for (uint32_t x = 0; x < len; x++) {
            if (!(x & 7) && x + 8 <= len && NO_MASK8(id + x)) {
                b += sum8(c + x);
                x += 7;
                continue;
            }
            const uint32_t cx = c[x];
            if (id[x]) {
                uint64_t *hc = h + id[x] * L;
                for (uint32_t r = 0; r < cx; r++) hc[(r & cm) * cl + mod_l(b[r], (uint32_t)L)]++;
            }
            b += cx;
        }
    }););
}

/* Arrival histogram of every photon (h: hist_copies * L); photon j adds to copy j % 4. */
static void frame_histogram(const kctx *k, const siff_frame_data *fd, uint64_t *h, uint64_t *oor) {
    const uint32_t L = k->L;
    const uint64_t step = k->hist_copies > 1 ? L : 0;
    uint64_t *h0 = h, *h1 = h + step, *h2 = h + 2 * step, *h3 = h + 3 * step;
    if (fd->tag == 0) {
        SIFF_FOR_RAW_PHOTONS_I(fd, oor, j, pix, tau, h[(j & 3) * step + mod_l(tau, L)]++;);
        return;
    }
    const siff_u16u *b = fd->bins;
    const uint64_t n = fd->n;
    uint64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        h0[mod_l(b[j], L)]++;
        h1[mod_l(b[j + 1], L)]++;
        h2[mod_l(b[j + 2], L)]++;
        h3[mod_l(b[j + 3], L)]++;
    }
    for (; j < n; j++) h0[mod_l(b[j], L)]++;
}

/* Every bin of a compressed frame into u32 tables indexed by the bin itself (h: COPIES *
 * FULL16); bins are read four at a time. The caller folds before any slot can wrap. */
static void frame_histogram_full16(const siff_frame_data *fd, uint32_t *h) {
    const siff_u16u *b = fd->bins;
    const uint64_t n = fd->n;
    uint32_t *h0 = h, *h1 = h + FULL16, *h2 = h + 2 * FULL16, *h3 = h + 3 * FULL16;
    uint64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        uint64_t w;
#if defined(__GNUC__) || defined(__clang__)
        if (!(j & 31)) __builtin_prefetch(b + j + 1024); /* 2 KB ahead: past page ends too */
#endif
        memcpy(&w, b + j, 8);
        h0[w & 0xffffu]++;
        h1[(w >> 16) & 0xffffu]++;
        h2[(w >> 32) & 0xffffu]++;
        h3[w >> 48]++;
    }
    for (; j < n; j++) h0[b[j]]++;
}

/* Adds the u32 tables into out (L bins, bin t at t mod L) and zeroes them. */
static void fold_full16(uint32_t *h, uint32_t L, uint64_t *out) {
    uint32_t r = 0;
    for (uint32_t t = 0; t < FULL16; t++) {
        out[r] += (uint64_t)h[t] + h[FULL16 + t] + h[2 * FULL16 + t] + h[3 * FULL16 + t];
        if (++r == L) r = 0;
    }
    memset(h, 0, (size_t)COPIES * FULL16 * 4);
}

/* Adds the copies of class values to the masks of each class: out[r * stride] += value. */
static void spread_u64(const kctx *k, const uint64_t *v, uint64_t *out, uint64_t stride) {
    const uint64_t C = k->classes;
    for (uint64_t c = 1; c < C; c++) {
        const uint64_t s = v[c] + v[C + c] + v[2 * C + c] + v[3 * C + c];
        if (!s) continue;
        const uint64_t *bits = k->class_bits + c * k->words;
        for (uint64_t wd = 0; wd < k->words; wd++)
            for (uint64_t m = bits[wd]; m; m &= m - 1) out[(wd * 64 + ctz64(m)) * stride] += s;
    }
}

static void spread_f64(const kctx *k, const double *v, double *out, uint64_t stride) {
    const uint64_t C = k->classes;
    for (uint64_t c = 1; c < C; c++) {
        const double s = v[c] + v[C + c] + v[2 * C + c] + v[3 * C + c];
        const uint64_t *bits = k->class_bits + c * k->words;
        for (uint64_t wd = 0; wd < k->words; wd++)
            for (uint64_t m = bits[wd]; m; m &= m - 1) out[(wd * 64 + ctz64(m)) * stride] += s;
    }
}

/* Adds per-class histograms to per-mask ones: out + r * stride (L bins each). */
static void spread_histograms(const kctx *k, const uint64_t *h, uint64_t *out, uint64_t stride) {
    const uint64_t C = k->classes, L = k->L;
    for (uint64_t c = 1; c < C; c++) {
        const uint64_t *bits = k->class_bits + c * k->words;
        for (uint64_t wd = 0; wd < k->words; wd++)
            for (uint64_t m = bits[wd]; m; m &= m - 1) {
                uint64_t *o = out + (wd * 64 + ctz64(m)) * stride;
                for (uint64_t cp = 0; cp < k->hist_copies; cp++) {
                    const uint64_t *src = h + (cp * C + c) * L;
                    for (uint64_t t = 0; t < L; t++) o[t] += src[t];
                }
            }
    }
}

static void fold_copies(const uint64_t *h, uint64_t copies, uint64_t len, uint64_t *out) {
    for (uint64_t cp = 0; cp < copies; cp++)
        for (uint64_t t = 0; t < len; t++) out[t] += h[cp * len + t];
}

/* ---- per-pixel lifetimes ---- */

/* v, or NaN where c == 0, as a bit select: with the default -ftrapping-math the compiler
 * vectorises no floating-point select, and loops using this one are vectorised. */
static inline double nan_where_zero(double v, uint32_t c) {
    const double qnan = NAN;
    uint64_t bits, nan_bits;
    memcpy(&bits, &v, 8);
    memcpy(&nan_bits, &qnan, 8);
    const uint64_t m = (uint64_t)0 - (uint64_t)(c == 0);
    bits = (bits & ~m) | (nan_bits & m);
    memcpy(&v, &bits, 8);
    return v;
}

/* Writes one pixel's final value from its count and sums (see siff_request). */
static inline void final_value(const kctx *k, uint64_t c, double s, double g, double sv,
                               double *out, uint64_t o) {
    if (!k->final_phasor) {
        out[o] = c ? s / (double)c - k->offset : NAN;
        return;
    }
    if (!c) {
        out[2 * o] = out[2 * o + 1] = NAN;
        return;
    }
    const double gr = g / (double)c, gi = sv / (double)c;
    out[2 * o] = gr * k->rot_re - gi * k->rot_im;
    out[2 * o + 1] = gr * k->rot_im + gi * k->rot_re;
}

/* The first c (at most 4) of the 4 u16 lanes of v. */
static inline uint64_t lanes_first(uint64_t v, uint32_t c) {
    return v & (c >= 4 ? ~(uint64_t)0 : ((uint64_t)1 << (16 * c)) - 1);
}

/* Sum of the first c (at most 8) bins at b, which has 8 readable bins: no branch on c. */
static inline uint64_t sum_first8(const siff_u16u *b, uint32_t c) {
    uint64_t v0, v1;
    memcpy(&v0, b, 8);
    memcpy(&v1, b + 4, 8);
    v0 = lanes_first(v0, c);
    v1 = lanes_first(v1, c > 4 ? c - 4 : 0);
    /* four u32 lanes (each the sum of two bins) in two words, then one sum */
    const uint64_t m = 0x0000ffff0000ffffu;
    const uint64_t v = (v0 & m) + ((v0 >> 16) & m) + (v1 & m) + ((v1 >> 16) & m);
    return (v & 0xffffffffu) + (v >> 32);
}

/* Empirical lifetimes of a compressed frame: counts copied row by row, then pixel by pixel
 * without a branch on the count up to 8 photons (sparse and ~1 photon/pixel frames would
 * mispredict one per pixel), runs of 8 empty pixels at once. Same values as final_value. */
static void frame_final_lifetime(const kctx *k, const siff_frame_data *fd, uint16_t *o16,
                                 double *out) {
    const double off = k->offset, qnan = NAN;
    const siff_u16u *b = fd->bins, *const end = fd->bins + fd->n;
    SIFF_FOR_SEGMENTS(fd, c, at, len, {
        memcpy(o16 + at, c, (size_t)len * 2);
        double *o = out + at;
        for (uint32_t x = 0; x < len; x++) {
            if (!(x & 7) && x + 8 <= len) {
                uint64_t q0, q1;
                memcpy(&q0, c + x, 8);
                memcpy(&q1, c + x + 4, 8);
                if ((q0 | q1) == 0) {
                    for (uint32_t e = 0; e < 8; e++) o[x + e] = qnan;
                    x += 7;
                    continue;
                }
            }
            const uint32_t cx = c[x];
            uint64_t si;
            if (cx <= 8 && end - b >= 8) {
                si = sum_first8(b, cx);
            } else {
                si = 0;
                for (uint32_t r = 0; r < cx; r++) si += b[r];
            }
            o[x] = nan_where_zero((double)si / (double)(cx + (cx == 0)) - off, cx);
            b += cx;
        }
    });
}

/* One frame's per-pixel counts (o16) and final values (out), every pixel written. Compressed
 * frames are written in one pass; raw frames accumulate in the outputs, then divide. */
static void frame_final_flim(const kctx *k, const siff_frame_data *fd, uint16_t *o16,
                             double *out, accs *a, uint64_t *oor, uint64_t *clamped) {
    const uint32_t L = k->L;
    const double *cs = k->cos_t, *sn = k->sin_t;
    if (fd->tag != 0 && !k->final_phasor) {
        frame_final_lifetime(k, fd, o16, out);
        return;
    }
    if (fd->tag != 0) {
        const siff_u16u *b = fd->bins;
        SIFF_FOR_SEGMENTS(fd, c, at, len, {
            for (uint32_t x = 0; x < len; x++) {
                const uint32_t cx = c[x];
                double s = 0, gr = 0, gi = 0;
                if (!k->final_phasor) {
                    uint64_t si = 0;
                    for (uint32_t r = 0; r < cx; r++) si += b[r];
                    s = (double)si;
                } else {
                    for (uint32_t r = 0; r < cx; r++) {
                        const uint32_t t = mod_l(b[r], L);
                        gr += cs[t];
                        gi += sn[t];
                    }
                }
                o16[at + x] = (uint16_t)cx;
                final_value(k, cx, s, gr, gi, out, at + x);
                b += cx;
            }
        });
        return;
    }
    /* raw: the sums accumulate in place in out, the counts in o16 (or, when a pixel could
     * pass 65535, in 32-bit scratch clamped into o16 at the end); one pass then divides */
    const uint64_t P = k->pixels;
    const int wide = fd->n > 0xffffu;
    uint32_t *c32 = a->pixel_count;
    if (wide) memset(c32, 0, (size_t)P * 4);
    else memset(o16, 0, (size_t)P * 2);
    if (!k->final_phasor) {
        memset(out, 0, (size_t)P * 8);
        if (wide) {
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, c32[pix]++; out[pix] += tau;);
            const double off = k->offset;
            uint64_t over = 0;
            for (uint64_t p = 0; p < P; p++) { /* final_value and store_clamped, vectorised */
                const uint32_t c = c32[p];
                over += c > 0xffffu;
                o16[p] = (uint16_t)(c > 0xffffu ? 0xffffu : c);
                out[p] = nan_where_zero(out[p] / (double)(c + (c == 0)) - off, c);
            }
            *clamped += over;
            return;
        } else {
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o16[pix]++; out[pix] += tau;);
            const double off = k->offset;
            for (uint64_t p = 0; p < P; p++) { /* final_value, vectorised */
                const uint32_t c = o16[p];
                out[p] = nan_where_zero(out[p] / (double)(c + (c == 0)) - off, c);
            }
        }
    } else {
        memset(out, 0, (size_t)P * 16);
        if (wide) {
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint32_t t = mod_l(tau, L);
                                 c32[pix]++; out[2 * pix] += cs[t]; out[2 * pix + 1] += sn[t];);
            for (uint64_t p = 0; p < P; p++)
                final_value(k, c32[p], 0, out[2 * p], out[2 * p + 1], out, p);
        } else {
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint32_t t = mod_l(tau, L);
                                 o16[pix]++; out[2 * pix] += cs[t]; out[2 * pix + 1] += sn[t];);
            for (uint64_t p = 0; p < P; p++)
                final_value(k, o16[p], 0, out[2 * p], out[2 * p + 1], out, p);
        }
    }
    if (wide) *clamped += store_clamped(c32, o16, P);
}

/* Per-pixel photon counts, bin sums and phasor sums added over frames (u64 / f64). */
static void frame_pixel_sums(const kctx *k, const siff_frame_data *fd, uint64_t *c64,
                             uint64_t *ts, double *re, double *im, uint64_t *oor) {
    const uint32_t L = k->L;
    if (fd->tag == 0) {
        if (!k->phasor)
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, c64[pix]++; ts[pix] += tau;);
        else
            SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, const uint32_t t = mod_l(tau, L);
                                 c64[pix]++; ts[pix] += tau;
                                 re[pix] += k->cos_t[t]; im[pix] += k->sin_t[t];);
        return;
    }
    SIFF_FOR_PIXELS(fd, pix, c, bins, uint64_t s = 0;
                    for (uint32_t q = 0; q < c; q++) s += bins[q];
                    ts[pix] += s;
                    c64[pix] += c;
                    if (k->phasor) {
                        double gr = 0, gi = 0;
                        for (uint32_t q = 0; q < c; q++) {
                            const uint32_t t = mod_l(bins[q], L);
                            gr += k->cos_t[t];
                            gi += k->sin_t[t];
                        }
                        re[pix] += gr;
                        im[pix] += gi;
                    });
}

static void frame_full(const kctx *k, const siff_frame_data *fd, uint16_t *o, uint64_t *oor) {
    const uint32_t L = k->L;
    memset(o, 0, (size_t)(k->pixels * L) * 2);
    if (fd->tag == 0) {
        SIFF_FOR_RAW_PHOTONS(fd, oor, pix, tau, o[(uint64_t)pix * L + mod_l(tau, L)]++;);
    } else {
        SIFF_FOR_PIXELS(fd, pix, c, bins, uint16_t *px = o + (uint64_t)pix * L;
                        for (uint32_t q = 0; q < c; q++) px[mod_l(bins[q], L)]++;);
    }
}

/* ---- one worker: scratch, the frame loop, one step per output kind ---- */

static void accs_free(accs *a) {
    free(a->count);
    free(a->tau);
    free(a->re);
    free(a->im);
    free(a->hist);
    free(a->hist32);
    free(a->pixel_count);
    memset(a, 0, sizeof *a);
}

static int accs_init(const kctx *k, const siff_request *req, accs *a, siff_error *err) {
    const uint64_t C = k->classes, n_cls = COPIES * C;
    const int kind = req->kind;
    int ok = 1;
    if (kind == SIFF_OUT_MASK_SUMS || kind == SIFF_OUT_MASK_FLIM) {
        ok = (a->count = calloc((size_t)n_cls, 8)) != NULL;
        if (ok && kind == SIFF_OUT_MASK_FLIM)
            ok = (a->tau = calloc((size_t)n_cls, 8)) && (a->re = calloc((size_t)n_cls, 8)) &&
                 (a->im = calloc((size_t)n_cls, 8));
    }
    if (ok && kind == SIFF_OUT_HISTOGRAM)
        ok = (a->hist = calloc((size_t)(k->hist_copies * C * k->L), 8)) != NULL;
    if (ok && kind == SIFF_OUT_HISTOGRAM && k->hist_full16)
        ok = (a->hist32 = calloc((size_t)COPIES * FULL16, 4)) != NULL;
    if (ok && !req->sum_frames && (kind == SIFF_OUT_IMAGE || kind == SIFF_OUT_PIXEL_FLIM))
        ok = (a->pixel_count = malloc((size_t)k->pixels * 4)) != NULL;
    return ok ? SIFF_OK : siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for scratch");
}

static void step_mask_sums(worker *w, const siff_frame_data *fd, uint64_t i, accs *a) {
    const kctx *k = w->k;
    uint64_t *out = w->req->out_u64;
    memset(a->count, 0, (size_t)(COPIES * k->classes) * 8);
    frame_class_sums(k, fd, i % k->planes, a->count, &w->oor);
    for (uint64_t r = 0; r < k->R; r++) out[r * k->n + i] = 0;
    spread_u64(k, a->count, out + i, k->n);
}

static void step_mask_flim(worker *w, const siff_frame_data *fd, uint64_t i, accs *a) {
    const kctx *k = w->k;
    siff_request *req = w->req;
    const size_t bytes = (size_t)(COPIES * k->classes) * 8;
    memset(a->count, 0, bytes);
    memset(a->tau, 0, bytes);
    if (k->phasor) {
        memset(a->re, 0, bytes);
        memset(a->im, 0, bytes);
    }
    frame_class_flim(k, fd, i % k->planes, a, &w->oor);
    for (uint64_t r = 0; r < k->R; r++) {
        req->out_u64[r * k->n + i] = req->out_tau_u64[r * k->n + i] = 0;
        if (k->phasor) req->out_re[r * k->n + i] = req->out_im[r * k->n + i] = 0;
    }
    spread_u64(k, a->count, req->out_u64 + i, k->n);
    spread_u64(k, a->tau, req->out_tau_u64 + i, k->n);
    if (k->phasor) {
        spread_f64(k, a->re, req->out_re + i, k->n);
        spread_f64(k, a->im, req->out_im + i, k->n);
    }
}

static void step_histogram(worker *w, const siff_frame_data *fd, uint64_t i, accs *a) {
    const kctx *k = w->k;
    siff_request *req = w->req;
    const uint64_t L = k->L, len = k->hist_copies * k->classes * L;
    const int sum = req->sum_frames;
    if (!k->R) {
        if (a->hist32 && fd->tag == 1) {
            if (a->hist32_bins + fd->n > UINT32_MAX) { /* no slot can pass 2^32 - 1 */
                fold_full16(a->hist32, k->L, w->sum_u64);
                a->hist32_bins = 0;
            }
            frame_histogram_full16(fd, a->hist32);
            a->hist32_bins += fd->n;
            return;
        }
        frame_histogram(k, fd, a->hist, &w->oor);
        if (sum) return; /* folded once at the end of the range */
        uint64_t *out = req->out_u64 + i * L;
        memset(out, 0, (size_t)L * 8);
        fold_copies(a->hist, k->hist_copies, L, out);
        memset(a->hist, 0, (size_t)len * 8);
        return;
    }
    frame_class_histogram(k, fd, i % k->planes, a->hist, &w->oor);
    if (sum) return;
    for (uint64_t r = 0; r < k->R; r++) memset(req->out_u64 + (r * k->n + i) * L, 0, (size_t)L * 8);
    spread_histograms(k, a->hist, req->out_u64 + i * L, k->n * L);
    memset(a->hist, 0, (size_t)len * 8);
}

/* Summed histograms are kept per class over the whole range and added once. */
static void finish_histogram(worker *w, accs *a) {
    const kctx *k = w->k;
    if (w->req->kind != SIFF_OUT_HISTOGRAM || !w->req->sum_frames) return;
    if (a->hist32) fold_full16(a->hist32, k->L, w->sum_u64);
    if (!k->R) fold_copies(a->hist, k->hist_copies, k->L, w->sum_u64);
    else spread_histograms(k, a->hist, w->sum_u64, k->L);
}

static void step_frame(worker *w, const siff_frame_data *fd, uint64_t i, accs *a) {
    const kctx *k = w->k;
    siff_request *req = w->req;
    const uint64_t P = k->pixels;
    const int sum = req->sum_frames;
    switch (req->kind) {
    case SIFF_OUT_IMAGE:
        frame_image(k, fd, sum ? NULL : req->out_u16 + i * P, sum ? w->sum_u64 : NULL, a,
                    &w->oor, &w->clamped);
        break;
    case SIFF_OUT_MASK_SUMS: step_mask_sums(w, fd, i, a); break;
    case SIFF_OUT_MASK_FLIM: step_mask_flim(w, fd, i, a); break;
    case SIFF_OUT_HISTOGRAM: step_histogram(w, fd, i, a); break;
    case SIFF_OUT_FULL: frame_full(k, fd, req->out_u16 + i * P * k->L, &w->oor); break;
    case SIFF_OUT_PIXEL_FLIM:
        if (sum)
            frame_pixel_sums(k, fd, w->sum_u64, w->sum_tau, w->sum_re, w->sum_im, &w->oor);
        else
            frame_final_flim(k, fd, req->out_u16 + i * P,
                             req->out_lifetime + i * P * (k->final_phasor ? 2 : 1), a, &w->oor,
                             &w->clamped);
        break;
    default: break;
    }
}

static int process_range(worker *w) {
    const siff_request *req = w->req;
    const kctx *k = w->k;
    siff_scratch s = {0};
    accs a = {0};
    siff_span sp = {0, 0};
    /* the pooled histogram of all pixels needs no count image once a frame is checked */
    const int what = req->kind == SIFF_OUT_HISTOGRAM && !k->R ? SIFF_LOAD_BINS
                     : needs_photons(req->kind)                ? SIFF_LOAD_PHOTONS
                                                               : SIFF_LOAD_COUNTS;
    int rc = accs_init(k, req, &a, &w->err);
    for (uint64_t i = w->begin; i < w->end && rc == SIFF_OK; i++) {
        uint64_t dy, dx;
        shift_of(req, k, i, &dy, &dx);
        siff_frame_data fd;
        rc = siff_load_frame(w->f, req->frames[i], dy, dx, what, &s, &fd, &w->err);
        if (rc) break;
        step_frame(w, &fd, i, &a);
        siff_span_add(w->f, &sp, &fd);
    }
    siff_span_end(w->f, &sp);
    if (rc == SIFF_OK) finish_histogram(w, &a);
    accs_free(&a);
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

/* ---- request checks and sizes ---- */

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
    uint64_t u16 = 0, u64 = 0, tau = 0, ph = 0;
    int ok = 1; /* every size is a product of counts from the file and the caller: check it */
    switch (req->kind) {
    case SIFF_OUT_IMAGE:
        if (req->sum_frames) u64 = P; else ok = mul3(n, P, 1, &u16);
        break;
    case SIFF_OUT_MASK_SUMS: ok = mul3(R, n, 1, &u64); break;
    case SIFF_OUT_MASK_FLIM: ok = mul3(R, n, 1, &u64); tau = ph = u64; break;
    case SIFF_OUT_HISTOGRAM: ok = mul3(R ? R : 1, rows, L, &u64); break;
    case SIFF_OUT_FULL: ok = mul3(n, P, L, &u16); break;
    case SIFF_OUT_PIXEL_FLIM:
        /* per frame: the lifetimes take u16 (or twice that for phasors) doubles */
        if (req->sum_frames) { u64 = P; tau = ph = P; } else ok = mul3(n, P, 2, &u16) &&
                                                               mul3(n, P, 1, &u16);
        break;
    default: return siff_fail(err, SIFF_ERR_ARG, -1, -1, "unknown output kind %d", req->kind);
    }
    if (!ok)
        return siff_fail(err, SIFF_ERR_NOMEM, -1, -1,
                         "the request is too large: %llu frames of %llu x %llu pixels (x %llu "
                         "arrival bins)",
                         (unsigned long long)n, (unsigned long long)H, (unsigned long long)W,
                         (unsigned long long)L);
    if (u16_len) *u16_len = u16;
    if (u64_len) *u64_len = u64;
    if (tau_len) *tau_len = tau;
    if (phasor_len) *phasor_len = ph;
    return SIFF_OK;
}

/* Every requested frame exists, can be decoded, has photons when the kind needs them, and
 * all share one shape (stored in k). */
static int check_frames(const siff_file *f, const siff_request *req, kctx *k, siff_error *err) {
    for (uint64_t i = 0; i < req->n_frames; i++) {
        const uint64_t frame = req->frames[i];
        int rc = siff_check_frame(f, frame, err);
        if (rc) return rc;
        const siff_frame *fr = &f->frames[frame];
        if (i == 0) {
            k->H = fr->height;
            k->W = fr->width;
        } else if (fr->height != k->H || fr->width != k->W) {
            return siff_fail(err, SIFF_ERR_SHAPE, (int64_t)frame, -1,
                             "frame %llu is %u x %u but frame %llu is %u x %u; request frames "
                             "of one shape",
                             (unsigned long long)frame, fr->height, fr->width,
                             (unsigned long long)req->frames[0], k->H, k->W);
        }
        if (needs_photons(req->kind) && fr->siff_tag == -1)
            return siff_fail(err, SIFF_ERR_NOT_FLIM, (int64_t)frame, -1,
                             "frame %llu is a plain TIFF image without photon arrival times",
                             (unsigned long long)frame);
    }
    if (req->n_frames == 0) {
        k->H = (uint32_t)f->info.height;
        k->W = (uint32_t)f->info.width;
    }
    return SIFF_OK;
}

static int check_arguments(const siff_file *f, const siff_request *req, kctx *k,
                           siff_error *err) {
    const int kind = req->kind;
    if (kind == SIFF_OUT_HISTOGRAM || kind == SIFF_OUT_FULL || k->phasor || k->final_phasor) {
        if (f->info.tau_bins < 0)
            return siff_fail(err, SIFF_ERR_NO_TAU_BINS, -1, -1,
                             "the header has no readable SI.hScan2D.hAcq.Tau_bins, so arrival-time "
                             "histograms and phasors cannot be computed");
        k->L = (uint32_t)f->info.tau_bins + 2;
    }
    if ((kind == SIFF_OUT_MASK_SUMS || kind == SIFF_OUT_MASK_FLIM) && req->n_masks == 0)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "this output kind needs at least one mask");
    if (req->n_masks && (!req->masks || req->mask_planes == 0))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "masks given without data or planes");
    if (!(req->phasor_period_bins >= 0) || req->phasor_period_bins > 1e12)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1,
                         "the phasor period must be a positive number of bins (or 0), not %g",
                         req->phasor_period_bins);
    if (!isfinite(req->lifetime_offset))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "the lifetime offset must be finite");
    if (kind == SIFF_OUT_FULL && req->sum_frames)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "per-pixel histograms cannot be summed");
    return SIFF_OK;
}

static int check_outputs(const siff_file *f, const siff_request *req, const kctx *k,
                         uint64_t need[4], siff_error *err) {
    int rc = siff_request_sizes(f, req, &need[0], &need[1], &need[2], &need[3], err);
    if (rc) return rc;
    const int flim = req->kind == SIFF_OUT_MASK_FLIM || req->kind == SIFF_OUT_PIXEL_FLIM;
    const int final = req->kind == SIFF_OUT_PIXEL_FLIM && !req->sum_frames;
    const uint64_t need_lt = need[0] * (k->final_phasor ? 2 : 1);
    if ((need[0] && (!req->out_u16 || req->out_u16_len < need[0])) ||
        (need[1] && (!req->out_u64 || req->out_u64_len < need[1])) ||
        (need[2] && flim && (!req->out_tau_u64 || req->out_tau_len < need[2])) ||
        (k->phasor && (!req->out_im || req->out_phasor_len < need[3])) ||
        (final && need_lt && (!req->out_lifetime || req->out_lifetime_len < need_lt)))
        return siff_fail(err, SIFF_ERR_ARG, -1, -1, "an output buffer is missing or too small");
    return SIFF_OK;
}

/* ---- tables shared by the workers ---- */

static void kctx_free(kctx *k) {
    free(k->runs);
    free(k->row_runs);
    k->runs = NULL;
    k->row_runs = NULL;
    free(k->class_bits);
    free(k->ids);
    free(k->cos_t);
    free(k->sin_t);
    k->class_bits = NULL;
    k->ids = NULL;
    k->cos_t = k->sin_t = NULL;
}

static int build_phasor_tables(const siff_request *req, kctx *k, siff_error *err) {
    if (!k->phasor && !k->final_phasor) return SIFF_OK;
    k->cos_t = malloc((size_t)k->L * 8);
    k->sin_t = malloc((size_t)k->L * 8);
    if (!k->cos_t || !k->sin_t) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    const double period = req->phasor_period_bins > 0 ? req->phasor_period_bins : k->L;
    for (uint32_t t = 0; t < k->L; t++) {
        k->cos_t[t] = cos(SIFF_TWO_PI * (double)t / period);
        k->sin_t[t] = sin(SIFF_TWO_PI * (double)t / period);
    }
    k->rot_re = cos(-SIFF_TWO_PI * k->offset / period);
    k->rot_im = sin(-SIFF_TWO_PI * k->offset / period);
    return SIFF_OK;
}

static inline uint64_t hash_words(const uint64_t *key, uint64_t words) {
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (uint64_t wd = 0; wd < words; wd++) {
        h ^= key[wd];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return h;
}

/* Class id of key (added when new). slots: cap entries of class index + 1 (0: empty). */
typedef struct {
    uint32_t *slots;
    uint64_t cap, count, words, bits_cap;
    uint64_t *bits;
} class_map;

static int class_map_grow(class_map *m) {
    const uint64_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = calloc((size_t)cap, 4);
    if (!slots) return 0;
    for (uint64_t c = 0; c < m->count; c++) {
        uint64_t at = hash_words(m->bits + c * m->words, m->words) & (cap - 1);
        while (slots[at]) at = (at + 1) & (cap - 1);
        slots[at] = (uint32_t)(c + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 1;
}

static int64_t class_of(class_map *m, const uint64_t *key) {
    if (2 * (m->count + 1) > m->cap && !class_map_grow(m)) return -1;
    uint64_t at = hash_words(key, m->words) & (m->cap - 1);
    for (; m->slots[at]; at = (at + 1) & (m->cap - 1)) {
        const uint64_t c = m->slots[at] - 1;
        if (!memcmp(m->bits + c * m->words, key, (size_t)m->words * 8)) return (int64_t)c;
    }
    if (m->count == m->bits_cap) {
        const uint64_t bc = m->bits_cap ? m->bits_cap * 2 : 64;
        uint64_t *nb = realloc(m->bits, (size_t)(bc * m->words) * 8);
        if (!nb) return -1;
        m->bits = nb;
        m->bits_cap = bc;
    }
    memcpy(m->bits + m->count * m->words, key, (size_t)m->words * 8);
    m->slots[at] = (uint32_t)(m->count + 1);
    return (int64_t)m->count++;
}

/* Runs of the class-id tables (k->runs), when there are at most a quarter as many runs as
 * pixels; else (or out of memory: the tables serve) none. */
static void build_class_runs(kctx *k, const uint32_t *ids) {
    const uint64_t rows = k->planes * k->H, cells = k->planes * k->pixels;
    uint64_t n = 0;
    for (uint64_t row = 0; row < rows; row++) {
        const uint32_t *id = ids + row * k->W;
        uint32_t starts = id[0] != 0; /* branch-free: vectorised */
        for (uint32_t x = 1; x < k->W; x++) starts += (id[x] != 0) & (id[x] != id[x - 1]);
        n += starts;
    }
    if (n > cells / 4) return;
    k->runs = malloc((size_t)(n ? n : 1) * sizeof *k->runs);
    k->row_runs = malloc((size_t)(rows + 1) * 8);
    if (!k->runs || !k->row_runs) {
        free(k->runs);
        free(k->row_runs);
        k->runs = NULL;
        k->row_runs = NULL;
        return;
    }
    n = 0;
    for (uint64_t row = 0; row < rows; row++) {
        const uint32_t *id = ids + row * k->W;
        k->row_runs[row] = n;
        for (uint32_t x = 0; x < k->W;) {
            uint32_t end = x + 1;
            while (end < k->W && id[end] == id[x]) end++;
            if (id[x]) k->runs[n++] = (class_run){x, end - x, id[x]};
            x = end;
        }
    }
    k->row_runs[rows] = n;
}

/* Class-id tables of the masks (see the top of the file). */
static int build_mask_classes(const siff_request *req, kctx *k, siff_error *err) {
    k->R = req->n_masks;
    k->classes = 1;
    k->planes = 1;
    if (!k->R) return SIFF_OK;
    k->planes = req->mask_planes;
    k->words = (k->R + 63) / 64;
    const uint64_t P = k->pixels, cells = k->planes * P;
    /* mask-set keys are built a block of pixels at a time (in cache, whatever the frame) */
    const uint64_t block = 2048, words = k->words;
    uint64_t *keys = malloc((size_t)(block * words) * 8);
    uint8_t group[2048]; /* the bits of up to 8 masks, one byte per pixel of the block */
    uint32_t *ids = malloc((size_t)cells * 4);
    uint64_t *zero = calloc((size_t)words, 8); /* then: the key of the block's last pixel */
    class_map m = {NULL, 0, 0, words, 0, NULL};
    int ok = keys && ids && zero && class_of(&m, zero) == 0;
    uint32_t prev_id = 0; /* zero holds its key */
    for (uint64_t q0 = 0; ok && q0 < cells; q0 += block) {
        const uint64_t nb = cells - q0 < block ? cells - q0 : block;
        memset(keys, 0, (size_t)(nb * words) * 8);
        /* 8 masks at a time into bytes (byte-wide, vectorised loops), then into the keys */
        for (uint64_t r0 = 0; r0 < k->R; r0 += 8) {
            memset(group, 0, (size_t)nb);
            for (uint64_t r = r0; r < k->R && r < r0 + 8; r++) {
                const uint8_t *src = req->masks + r * cells + q0;
                const uint8_t bit = (uint8_t)(1u << (r - r0));
                for (uint64_t j = 0; j < nb; j++) group[j] |= src[j] ? bit : 0;
            }
            uint64_t *dst = keys + r0 / 64;
            const unsigned sh = (unsigned)(r0 % 64);
            if (words == 1) /* unit stride: vectorised */
                for (uint64_t j = 0; j < nb; j++) dst[j] |= (uint64_t)group[j] << sh;
            else
                for (uint64_t j = 0; j < nb; j++) dst[j * words] |= (uint64_t)group[j] << sh;
        }
        for (uint64_t j = 0; ok && j < nb; j++) {
            const uint64_t *key = keys + j * words, *prev = j ? key - words : zero;
            /* as its neighbour (masks are mostly runs): no lookup */
            if (words == 1 ? key[0] != prev[0] : memcmp(key, prev, (size_t)words * 8) != 0) {
                const int64_t c = class_of(&m, key);
                ok = c >= 0;
                prev_id = (uint32_t)c;
            }
            ids[q0 + j] = prev_id;
        }
        memcpy(zero, keys + (nb - 1) * words, (size_t)words * 8);
    }
    free(keys);
    free(zero);
    free(m.slots);
    k->class_bits = m.bits;
    k->classes = m.count;
    if (!ok) {
        free(ids);
        return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for masks");
    }
    build_class_runs(k, ids);
    k->id_bytes = k->classes <= 256 ? 1 : k->classes <= 65536 ? 2 : 4;
    if (k->id_bytes == 4) {
        k->ids = ids;
        return SIFF_OK;
    }
    k->ids = malloc((size_t)(cells * (uint64_t)k->id_bytes));
    if (!k->ids) {
        free(ids);
        return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory for masks");
    }
    uint8_t *ids8 = k->ids; /* locals: stores through them cannot move ids (vectorised) */
    uint16_t *ids16 = k->ids;
    if (k->id_bytes == 1)
        for (uint64_t q = 0; q < cells; q++) ids8[q] = (uint8_t)ids[q];
    else
        for (uint64_t q = 0; q < cells; q++) ids16[q] = (uint16_t)ids[q];
    free(ids);
    return SIFF_OK;
}

/* A pooled summed histogram over enough compressed arrival bins (see FULL16_MIN_BINS). */
static int use_full16(const siff_file *f, const siff_request *req) {
    if (req->kind != SIFF_OUT_HISTOGRAM || req->n_masks || !req->sum_frames) return 0;
    uint64_t bins = 0;
    for (uint64_t i = 0; i < req->n_frames && bins < FULL16_MIN_BINS; i++) {
        const siff_frame *fr = &f->frames[req->frames[i]]; /* checked by check_frames */
        if (fr->siff_tag == 1) bins += fr->strip_bytes / 2;
    }
    return bins >= FULL16_MIN_BINS;
}

/* ---- threads ---- */

static int worker_count(const siff_request *req) {
    int T = req->n_threads < 1 ? 1 : (req->n_threads > MAX_THREADS ? MAX_THREADS : req->n_threads);
#ifndef SIFF_HAVE_THREADS
    T = 1;
#endif
    const uint64_t n = req->n_frames;
    if ((uint64_t)T > n / 2) T = n >= 2 ? (int)(n / 2) : 1;
    return T;
}

static void free_partial_sums(worker *ws, int T) {
    for (int t = 1; t < T; t++) {
        free(ws[t].sum_u64);
        free(ws[t].sum_tau);
        free(ws[t].sum_re);
        free(ws[t].sum_im);
    }
}

/* Splits the frames over T workers; worker 0 sums straight into the outputs, the others
 * into their own partial sums (sized by need). */
static int setup_workers(const siff_file *f, siff_request *req, const kctx *k, worker *ws,
                         int T, const uint64_t need[4], siff_error *err) {
    const uint64_t n = req->n_frames;
    for (int t = 0; t < T; t++) {
        worker *w = &ws[t];
        w->f = f;
        w->req = req;
        w->k = k;
        w->begin = n * (uint64_t)t / (uint64_t)T;
        w->end = n * (uint64_t)(t + 1) / (uint64_t)T;
        siff_clear_error(&w->err);
        if (!req->sum_frames) continue;
        if (t == 0) {
            w->sum_u64 = req->out_u64;
            w->sum_tau = req->out_tau_u64;
            w->sum_re = req->out_re;
            w->sum_im = req->out_im;
            continue;
        }
        w->sum_u64 = calloc((size_t)(need[1] ? need[1] : 1), 8);
        w->sum_tau = calloc((size_t)(need[2] ? need[2] : 1), 8);
        w->sum_re = calloc((size_t)(need[3] ? need[3] : 1), 8);
        w->sum_im = calloc((size_t)(need[3] ? need[3] : 1), 8);
        if (!w->sum_u64 || !w->sum_tau || !w->sum_re || !w->sum_im)
            return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
    }
    return SIFF_OK;
}

static void run_workers(worker *ws, int T) {
#ifdef SIFF_HAVE_THREADS
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 1; t < T; t++) started[t] = pthread_create(&th[t], NULL, worker_main, &ws[t]) == 0;
    ws[0].rc = process_range(&ws[0]);
    for (int t = 1; t < T; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else ws[t].rc = process_range(&ws[t]); /* could not start a thread: do it here */
    }
#else
    for (int t = 0; t < T; t++) ws[t].rc = process_range(&ws[t]);
#endif
}

/* Diagnostics, the first error, and the partial sums of workers 1.. into the outputs. */
static int gather_workers(siff_request *req, const kctx *k, worker *ws, int T,
                          const uint64_t need[4], siff_error *err) {
    int rc = SIFF_OK;
    for (int t = 0; t < T; t++) {
        req->out_of_range_photons += ws[t].oor;
        req->out_clamped_pixels += ws[t].clamped;
        if (ws[t].rc && rc == SIFF_OK) {
            rc = ws[t].rc;
            if (err) *err = ws[t].err;
        }
    }
    if (rc != SIFF_OK || !req->sum_frames) return rc;
    for (int t = 1; t < T; t++) {
        for (uint64_t j = 0; j < need[1]; j++) req->out_u64[j] += ws[t].sum_u64[j];
        if (req->kind != SIFF_OUT_PIXEL_FLIM) continue;
        for (uint64_t j = 0; j < need[2]; j++) req->out_tau_u64[j] += ws[t].sum_tau[j];
        if (k->phasor)
            for (uint64_t j = 0; j < need[3]; j++) {
                req->out_re[j] += ws[t].sum_re[j];
                req->out_im[j] += ws[t].sum_im[j];
            }
    }
    return rc;
}

/* Summed outputs are small and zeroed here; per-frame outputs are written whole by the
 * workers, frame by frame (in cache, and spread over the threads). */
static void zero_summed_outputs(siff_request *req, const kctx *k, const uint64_t need[4]) {
    if (!req->sum_frames) return;
    if (need[1]) memset(req->out_u64, 0, (size_t)need[1] * 8);
    if (req->out_tau_u64 && need[2]) memset(req->out_tau_u64, 0, (size_t)need[2] * 8);
    if (k->phasor) {
        memset(req->out_re, 0, (size_t)need[3] * 8);
        memset(req->out_im, 0, (size_t)need[3] * 8);
    }
}

int siff_run(const siff_file *f, siff_request *req, siff_error *err) {
    siff_clear_error(err);
    if (!f || !req) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    if (req->n_frames && !req->frames) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "no frame list");
    req->out_of_range_photons = 0;
    req->out_clamped_pixels = 0;
    kctx k;
    memset(&k, 0, sizeof k);
    k.n = req->n_frames;
    const int final = req->kind == SIFF_OUT_PIXEL_FLIM && !req->sum_frames;
    k.phasor = (req->kind == SIFF_OUT_MASK_FLIM || (req->kind == SIFF_OUT_PIXEL_FLIM && !final)) &&
               req->out_re != NULL;
    k.final_phasor = final && req->lifetime_phasor;
    k.offset = req->lifetime_offset;
    uint64_t need[4];
    int rc = siff_io_check(&f->io, err);
    if (!rc) rc = check_frames(f, req, &k, err);
    if (rc) return rc;
    k.pixels = (uint64_t)k.H * k.W;
    rc = check_arguments(f, req, &k, err);
    if (!rc) rc = check_outputs(f, req, &k, need, err);
    if (!rc) rc = build_phasor_tables(req, &k, err);
    if (!rc) rc = build_mask_classes(req, &k, err);
    if (rc) {
        kctx_free(&k);
        return rc;
    }
    const uint64_t hist_bytes = COPIES * k.classes * k.L * 8;
    k.hist_copies = hist_bytes <= HIST_COPIES_MAX_BYTES ? COPIES : 1;
    k.hist_full16 = use_full16(f, req);
    zero_summed_outputs(req, &k, need);

    const int T = worker_count(req);
    worker ws[MAX_THREADS];
    memset(ws, 0, sizeof ws);
    rc = setup_workers(f, req, &k, ws, T, need, err);
    if (rc == SIFF_OK) {
        run_workers(ws, T);
        rc = gather_workers(req, &k, ws, T, need, err);
        if (rc == SIFF_OK) rc = siff_io_check(&f->io, err); /* a page vanished mid-run */
    }
    if (req->sum_frames) free_partial_sums(ws, T);
    kctx_free(&k);
    return rc;
}
