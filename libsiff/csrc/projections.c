/* projections.c - siff_projection_sums: one pass over a plane's frames gives, per pixel, the
 * sums a mean, max, standard-deviation and local-correlation image are made of.
 *
 * Each frame becomes a registered count image in a padded scratch (a zero column on both
 * sides and a zero row below), so the right, lower, lower-right and lower-left neighbours of
 * any pixel are read without edge tests. Only the frame's non-empty pixels are visited (a
 * product with an empty neighbour adds nothing), so sparse frames cost their photons, not
 * their pixels. Per-pixel sums live in one 32-byte cell of 32-bit fields per pixel; a worker
 * adds its cells into the caller's 64-bit outputs, under a lock, before they could overflow
 * and when its frames are done.
 *
 * The cells of a 512 x 512 frame take 8 MB, and a sparse frame touches them all over: added
 * frame by frame they would miss the cache at every pixel. So each frame's non-empty pixels
 * are listed in ascending order as small records (pixel, count and the four neighbour
 * counts), a batch of frames at a time, and the batch is added band of rows by band of rows:
 * a band's cells stay in the core's cache while every frame of the batch adds to them. */
#include "siff_internal.h"

#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <pthread.h>
#define SIFF_PROJ_HAVE_THREADS 1
#endif

#define PROJ_MAX_THREADS 32
/* a frame whose counts stay at or below this adds less than 2^32 to any 32-bit field */
#define PROJ_SMALL_COUNT 0xffffu
/* touched pixels ahead whose cells are prefetched when a frame is added on its own */
#define PROJ_PREFETCH 24
/* a batch: at most this many records (16 bytes each) and frames */
#define PROJ_BATCH_RECS ((uint64_t)1 << 19)
#define PROJ_BATCH_FRAMES 256
/* cells of one band (64 KB: they stay in a core's cache while a batch adds to them) */
#define PROJ_BAND_CELLS ((uint64_t)1 << 11)

#if defined(__GNUC__) || defined(__clang__)
#define PROJ_PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
static inline unsigned proj_ctz64(uint64_t v) { return (unsigned)__builtin_ctzll(v); }
#else
#define PROJ_PREFETCH_W(p) ((void)0)
static inline unsigned proj_ctz64(uint64_t v) {
    unsigned n = 0;
    while (!(v & 1)) {
        v >>= 1;
        n++;
    }
    return n;
}
#endif

typedef struct {
    uint32_t v[8]; /* SIFF_PROJ_* fields (v[7] unused: 32-byte cells) */
} proj_cell;

/* One non-empty pixel of a frame (all counts at most PROJ_SMALL_COUNT). */
typedef struct {
    uint32_t q;                  /* padded index */
    uint16_t v, r, d, dr, dl, pad_; /* its count, then its right, lower, lower-right and
                                       lower-left neighbours' */
} proj_rec;

typedef struct {
    uint32_t H, W, Wp;  /* Wp = W + 2: padded row length */
    double inv_w;       /* 1 / W, for row numbers of registered pixels */
    uint64_t pixels;
    const siff_file *f;
    const uint64_t *frames;
    const int64_t *shifts;
    uint64_t *out;      /* SIFF_PROJ_PLANES * pixels */
#ifdef SIFF_PROJ_HAVE_THREADS
    pthread_mutex_t lock; /* guards out while several workers run */
#endif
    int locked;           /* lock is initialised */
} proj_ctx;

typedef struct {
    const proj_ctx *c;
    uint64_t begin, end;
    proj_cell *cells;   /* H * Wp, indexed like the padded scratch; 64-byte aligned */
    void *cells_block;  /* the allocation cells lie in */
    uint32_t *cnt;      /* (H + 1) * Wp counts of the current frame, zero between frames */
    uint32_t *touched;  /* padded indices of the current frame's non-empty pixels, ascending */
    uint64_t *seen;     /* raw frames: one bit per padded pixel, set when it gets a photon */
    uint8_t *cnt8;      /* (H + 1) * Wp: raw frames' counts (at most 255), zero between frames */
    int small;          /* the current frame's counts are in cnt8 (else in cnt) */
    uint64_t n_touched;
    uint32_t max_count; /* of the current frame */
    proj_rec *recs;     /* the batch: records of frames in order, each frame's ascending */
    uint64_t rec_cap, n_recs;
    uint64_t starts[PROJ_BATCH_FRAMES + 1]; /* frame k's records: [starts[k], starts[k+1]) */
    uint32_t n_batch;
    uint64_t budget;    /* bound on what any 32-bit field gained since the last flush */
    uint64_t oor;
    int rc;
    siff_error err;
} proj_worker;

/* Row of registered pixel p (exact: the float estimate is corrected by one either way). */
static inline uint32_t row_of(const proj_ctx *c, uint32_t p) {
    uint32_t y = (uint32_t)((double)p * c->inv_w);
    if (y >= c->H) y = c->H - 1;
    if ((uint64_t)y * c->W > p) y--;
    else if ((uint64_t)(y + 1) * c->W <= p) y++;
    return y;
}

/* The frame's registered counts into the padded scratch, its non-empty pixels listed. */
static void frame_counts(proj_worker *w, const siff_frame_data *fd) {
    const proj_ctx *c = w->c;
    uint32_t *cnt = w->cnt;
    uint32_t *touched = w->touched, top = 0;
    uint64_t nt = 0;
    if (fd->tag == 0) {
        /* photons come in any order: they are counted in bytes (the byte image of a 512 x 512
         * frame stays in a core's cache where the 32-bit one would not) and their pixels
         * marked in a bitmap and listed in ascending order from it. A pixel reaching 255
         * photons has the frame recounted in the 32-bit scratch. */
        uint64_t *seen = w->seen;
        uint8_t *c8 = w->cnt8;
        int full = 0;
        SIFF_FOR_RAW_PHOTONS(fd, &w->oor, pix, tau, {
            const uint32_t q = pix + 2 * row_of(c, pix) + 1;
            const uint8_t v = c8[q];
            full |= v == 0xff;
            c8[q] = (uint8_t)(v + (v != 0xff));
            if (v >= top) top = v + 1u;
            seen[q >> 6] |= (uint64_t)1 << (q & 63);
        });
        const uint64_t words = ((uint64_t)c->H * c->Wp + 63) / 64;
        for (uint64_t k = 0; k < words; k++) {
            uint64_t m = seen[k];
            if (!m) continue;
            seen[k] = 0;
            for (; m; m &= m - 1) touched[nt++] = (uint32_t)(k * 64 + proj_ctz64(m));
        }
        w->small = !full;
        if (full) {
            for (uint64_t i = 0; i < nt; i++) c8[touched[i]] = 0;
            uint64_t again = 0; /* out-of-range photons were counted above */
            top = 0;
            SIFF_FOR_RAW_PHOTONS(fd, &again, pix, tau, {
                const uint32_t q = pix + 2 * row_of(c, pix) + 1;
                const uint32_t v = ++cnt[q];
                if (v > top) top = v;
            });
        }
    } else {
        /* registered rows in order, each from its two pieces of a file row (SIFF_FOR_SEGMENTS
         * walks the file's order, which a shift makes non-ascending) */
        const uint32_t H = fd->H, W = fd->W, dy = fd->dy, dx = fd->dx, Wp = c->Wp;
        w->small = 0;
        for (uint32_t ry = 0; ry < H; ry++) {
            const uint32_t y = ry >= dy ? ry - dy : ry + H - dy;
            const siff_u16u *row = fd->counts + (uint64_t)y * W;
            const uint32_t q0 = ry * Wp + 1;
            for (int piece = 0; piece < 2; piece++) {
                /* registered x < dx holds file x + W - dx; x >= dx holds file x - dx */
                const siff_u16u *src = piece ? row : row + (W - dx);
                const uint32_t len = piece ? W - dx : dx, q = piece ? q0 + dx : q0;
                for (uint32_t x = 0; x < len; x++) {
                    const uint32_t v = src[x];
                    if (!v) continue;
                    cnt[q + x] = v;
                    touched[nt++] = q + x;
                    if (v > top) top = v;
                }
            }
        }
    }
    w->n_touched = nt;
    w->max_count = top;
}

/* Adds the current frame to the cells (every count at most PROJ_SMALL_COUNT). */
static void frame_to_cells(proj_worker *w) {
    uint32_t *cnt = w->cnt;
    const uint32_t *touched = w->touched, Wp = w->c->Wp;
    proj_cell *cells = w->cells;
    const uint64_t nt = w->n_touched;
    for (uint64_t i = 0; i < nt; i++) {
        if (i + PROJ_PREFETCH < nt) PROJ_PREFETCH_W(&cells[touched[i + PROJ_PREFETCH]]);
        const uint32_t q = touched[i], v = cnt[q];
        /* neighbours first: the stores below may alias cnt for the compiler */
        const uint32_t r = cnt[q + 1], d = cnt[q + Wp], dr = cnt[q + Wp + 1],
                       dl = cnt[q + Wp - 1];
        cnt[q] = 0;
        uint32_t *e = cells[q].v;
        e[SIFF_PROJ_SUM] += v;
        e[SIFF_PROJ_SUM_SQ] += v * v;
        if (v > e[SIFF_PROJ_MAX]) e[SIFF_PROJ_MAX] = v;
        e[SIFF_PROJ_RIGHT] += v * r;
        e[SIFF_PROJ_DOWN] += v * d;
        e[SIFF_PROJ_DOWN_RIGHT] += v * dr;
        e[SIFF_PROJ_DOWN_LEFT] += v * dl;
    }
}

/* Defines NAME(w, cnt): lists the current frame's non-empty pixels, whose counts are in cnt
 * (of type T), as records of the batch, zeroing the counts. */
#define PROJ_DEFINE_TO_BATCH(NAME, T)                                                      \
    static void NAME(proj_worker *w, T *cnt) {                                             \
        const uint32_t *touched = w->touched, Wp = w->c->Wp;                               \
        const uint64_t nt = w->n_touched;                                                  \
        proj_rec *rec = w->recs + w->n_recs;                                               \
        for (uint64_t i = 0; i < nt; i++) {                                                \
            const uint32_t q = touched[i];                                                 \
            rec[i] = (proj_rec){q, (uint16_t)cnt[q], (uint16_t)cnt[q + 1],                 \
                                (uint16_t)cnt[q + Wp], (uint16_t)cnt[q + Wp + 1],          \
                                (uint16_t)cnt[q + Wp - 1], 0};                             \
            cnt[q] = 0;                                                                    \
        }                                                                                  \
        w->n_recs += nt;                                                                   \
        w->starts[++w->n_batch] = w->n_recs;                                               \
    }
PROJ_DEFINE_TO_BATCH(frame_to_batch, uint32_t)
PROJ_DEFINE_TO_BATCH(frame_to_batch8, uint8_t)

/* Moves byte counts (w->small) to the 32-bit scratch. */
static void widen_counts(proj_worker *w) {
    uint32_t *cnt = w->cnt;
    uint8_t *c8 = w->cnt8;
    for (uint64_t i = 0; i < w->n_touched; i++) {
        const uint32_t q = w->touched[i];
        cnt[q] = c8[q];
        c8[q] = 0;
    }
    w->small = 0;
}

/* Adds the batch to the cells, band by band, and empties it. */
static void apply_batch(proj_worker *w) {
    if (!w->n_batch) return;
    const uint64_t total = (uint64_t)w->c->H * w->c->Wp;
    const proj_rec *recs = w->recs;
    proj_cell *cells = w->cells;
    uint64_t at[PROJ_BATCH_FRAMES];
    memcpy(at, w->starts, (size_t)w->n_batch * sizeof at[0]);
    for (uint64_t lo = 0; lo < total; lo += PROJ_BAND_CELLS) {
        const uint64_t hi = lo + PROJ_BAND_CELLS;
        for (uint32_t k = 0; k < w->n_batch; k++) {
            uint64_t i = at[k];
            const uint64_t end = w->starts[k + 1];
            for (; i < end && recs[i].q < hi; i++) {
                const proj_rec r = recs[i];
                const uint32_t v = r.v;
                uint32_t *e = cells[r.q].v;
                e[SIFF_PROJ_SUM] += v;
                e[SIFF_PROJ_SUM_SQ] += v * v;
                if (v > e[SIFF_PROJ_MAX]) e[SIFF_PROJ_MAX] = v;
                e[SIFF_PROJ_RIGHT] += v * r.r;
                e[SIFF_PROJ_DOWN] += v * r.d;
                e[SIFF_PROJ_DOWN_RIGHT] += v * r.dr;
                e[SIFF_PROJ_DOWN_LEFT] += v * r.dl;
            }
            at[k] = i;
        }
    }
    w->n_batch = 0;
    w->n_recs = 0;
}

static void lock_outputs(const proj_ctx *c) {
#ifdef SIFF_PROJ_HAVE_THREADS
    if (c->locked) pthread_mutex_lock((pthread_mutex_t *)&c->lock);
#else
    (void)c;
#endif
}

static void unlock_outputs(const proj_ctx *c) {
#ifdef SIFF_PROJ_HAVE_THREADS
    if (c->locked) pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
#else
    (void)c;
#endif
}

/* The current frame straight into the 64-bit outputs (a raw frame with a pixel of more than
 * PROJ_SMALL_COUNT photons: its squares do not fit in 32 bits). */
static void frame_to_outputs(proj_worker *w) {
    const proj_ctx *c = w->c;
    uint32_t *cnt = w->cnt;
    const uint32_t Wp = c->Wp;
    const uint64_t P = c->pixels;
    uint64_t *o = c->out;
    lock_outputs(c);
    for (uint64_t i = 0; i < w->n_touched; i++) {
        const uint32_t q = w->touched[i];
        const uint64_t v = cnt[q];
        const uint32_t y = q / Wp;
        const uint64_t p = q - 2 * (uint64_t)y - 1;
        o[SIFF_PROJ_SUM * P + p] += v;
        o[SIFF_PROJ_SUM_SQ * P + p] += v * v;
        if (v > o[SIFF_PROJ_MAX * P + p]) o[SIFF_PROJ_MAX * P + p] = v;
        o[SIFF_PROJ_RIGHT * P + p] += v * cnt[q + 1];
        o[SIFF_PROJ_DOWN * P + p] += v * cnt[q + Wp];
        o[SIFF_PROJ_DOWN_RIGHT * P + p] += v * cnt[q + Wp + 1];
        o[SIFF_PROJ_DOWN_LEFT * P + p] += v * cnt[q + Wp - 1];
        cnt[q] = 0;
    }
    unlock_outputs(c);
}

/* Adds the cells to the outputs and zeroes them. */
static void flush_cells(proj_worker *w) {
    const proj_ctx *c = w->c;
    const uint64_t P = c->pixels;
    uint64_t *o = c->out;
    if (!w->budget) return;
    lock_outputs(c);
    for (uint32_t y = 0; y < c->H; y++) {
        const proj_cell *row = w->cells + (uint64_t)y * c->Wp + 1;
        const uint64_t p0 = (uint64_t)y * c->W;
        for (int k = 0; k < SIFF_PROJ_PLANES; k++) {
            uint64_t *dst = o + k * P + p0;
            if (k == SIFF_PROJ_MAX) {
                for (uint32_t x = 0; x < c->W; x++)
                    if (row[x].v[k] > dst[x]) dst[x] = row[x].v[k];
            } else {
                for (uint32_t x = 0; x < c->W; x++) dst[x] += row[x].v[k];
            }
        }
    }
    unlock_outputs(c);
    memset(w->cells, 0, (size_t)((uint64_t)c->H * c->Wp) * sizeof *w->cells);
    w->budget = 0;
}

/* The current frame into the batch, the cells (a frame too large for a batch) or straight
 * into the outputs (counts too large for 32-bit cells); cells are flushed before any of
 * their fields could pass 2^32 - 1. */
static void add_frame(proj_worker *w) {
    /* every path below visits the frame's pixels in ascending order and zeroes each count
     * once read as its own: no pixel after it reads it as a neighbour */
    const uint64_t m = w->max_count, nt = w->n_touched;
    if (!nt) return;
    if (m > PROJ_SMALL_COUNT) {
        apply_batch(w);
        frame_to_outputs(w);
        return;
    }
    if (w->budget + m * m > UINT32_MAX) {
        apply_batch(w);
        flush_cells(w);
    }
    w->budget += m * m;
    if (nt > w->rec_cap) {
        apply_batch(w);
        if (w->small) widen_counts(w);
        frame_to_cells(w);
        return;
    }
    if (w->n_recs + nt > w->rec_cap || w->n_batch == PROJ_BATCH_FRAMES) apply_batch(w);
    if (w->small) frame_to_batch8(w, w->cnt8);
    else frame_to_batch(w, w->cnt);
}

static void shift_of(const proj_ctx *c, uint64_t i, uint64_t *dy, uint64_t *dx) {
    *dy = *dx = 0;
    if (!c->shifts) return;
    int64_t sy = c->shifts[2 * i] % (int64_t)c->H, sx = c->shifts[2 * i + 1] % (int64_t)c->W;
    if (sy < 0) sy += c->H;
    if (sx < 0) sx += c->W;
    *dy = (uint64_t)sy;
    *dx = (uint64_t)sx;
}

static int worker_alloc(proj_worker *w) {
    const proj_ctx *c = w->c;
    const uint64_t cells = (uint64_t)c->H * c->Wp, scratch = cells + c->Wp;
    /* aligned so that no cell straddles two cache lines */
    w->cells_block = calloc((size_t)cells + 2, sizeof *w->cells);
    w->cells = w->cells_block
                   ? (proj_cell *)(((uintptr_t)w->cells_block + 63) & ~(uintptr_t)63)
                   : NULL;
    w->cnt = calloc((size_t)scratch, sizeof *w->cnt);
    w->touched = malloc((size_t)c->pixels * sizeof *w->touched);
    w->seen = calloc((size_t)((cells + 63) / 64), sizeof *w->seen);
    w->cnt8 = calloc((size_t)scratch, 1);
    w->rec_cap = c->pixels * PROJ_BATCH_FRAMES < PROJ_BATCH_RECS ? c->pixels * PROJ_BATCH_FRAMES
                                                                 : PROJ_BATCH_RECS;
    w->recs = malloc((size_t)w->rec_cap * sizeof *w->recs);
    if (!w->cells || !w->cnt || !w->touched || !w->seen || !w->cnt8 || !w->recs)
        return siff_fail(&w->err, SIFF_ERR_NOMEM, -1, -1,
                         "out of memory for the projection sums of %u x %u frames", c->H, c->W);
    return SIFF_OK;
}

static int process_frames(proj_worker *w) {
    const proj_ctx *c = w->c;
    siff_scratch s = {0};
    siff_span sp = {0, 0}; /* decoded file bytes not yet released */
    int rc = worker_alloc(w);
    for (uint64_t i = w->begin; i < w->end && rc == SIFF_OK; i++) {
        uint64_t dy, dx;
        shift_of(c, i, &dy, &dx);
        siff_frame_data fd;
        rc = siff_load_frame(c->f, c->frames[i], dy, dx, SIFF_LOAD_COUNTS, &s, &fd, &w->err);
        if (rc) break;
        if (fd.tag == 0 && fd.n > UINT32_MAX) {
            rc = siff_fail(&w->err, SIFF_ERR_FORMAT, (int64_t)c->frames[i], -1,
                           "frame %llu holds more than 2^32 photons",
                           (unsigned long long)c->frames[i]);
            break;
        }
        frame_counts(w, &fd);
        add_frame(w); /* consumes the counts: the scratch is zero again */
        siff_span_add(c->f, &sp, &fd);
    }
    siff_span_end(c->f, &sp);
    if (rc == SIFF_OK) {
        apply_batch(w);
        flush_cells(w);
    }
    free(w->cells_block);
    free(w->cnt);
    free(w->touched);
    free(w->seen);
    free(w->cnt8);
    free(w->recs);
    siff_scratch_free(&s);
    return rc;
}

#ifdef SIFF_PROJ_HAVE_THREADS
static void *proj_worker_main(void *arg) {
    proj_worker *w = arg;
    w->rc = process_frames(w);
    return NULL;
}
#endif

static void run_proj_workers(proj_worker *ws, int T) {
#ifdef SIFF_PROJ_HAVE_THREADS
    pthread_t th[PROJ_MAX_THREADS];
    int started[PROJ_MAX_THREADS] = {0};
    for (int t = 1; t < T; t++)
        started[t] = pthread_create(&th[t], NULL, proj_worker_main, &ws[t]) == 0;
    ws[0].rc = process_frames(&ws[0]);
    for (int t = 1; t < T; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else ws[t].rc = process_frames(&ws[t]); /* could not start a thread: do it here */
    }
#else
    for (int t = 0; t < T; t++) ws[t].rc = process_frames(&ws[t]);
#endif
}

/* Every frame decodable and of one shape (stored in c). */
static int check_plane(const siff_file *f, const uint64_t *frames, uint64_t n, proj_ctx *c,
                       siff_error *err) {
    for (uint64_t i = 0; i < n; i++) {
        int rc = siff_check_frame(f, frames[i], err);
        if (rc) return rc;
        const siff_frame *fr = &f->frames[frames[i]];
        if (i == 0) {
            c->H = fr->height;
            c->W = fr->width;
        } else if (fr->height != c->H || fr->width != c->W) {
            return siff_fail(err, SIFF_ERR_SHAPE, (int64_t)frames[i], -1,
                             "frame %llu is %u x %u but frame %llu is %u x %u; a projection "
                             "needs frames of one shape",
                             (unsigned long long)frames[i], fr->height, fr->width,
                             (unsigned long long)frames[0], c->H, c->W);
        }
    }
    if (c->H == 0 || c->W == 0 || c->H > SIFF_MAX_DIM || c->W > SIFF_MAX_DIM ||
        (uint64_t)c->H * c->W > SIFF_MAX_FRAME_PIXELS)
        return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frames[0], -1,
                         "frame %llu is %u x %u pixels, outside the supported frame sizes",
                         (unsigned long long)frames[0], c->H, c->W);
    return SIFF_OK;
}

int siff_projection_sums(const siff_file *f, const uint64_t *frames, uint64_t n_frames,
                         const int64_t *shifts, int n_threads, uint64_t *out, uint64_t out_len,
                         uint64_t *out_of_range, siff_error *err) {
    siff_clear_error(err);
    if (out_of_range) *out_of_range = 0;
    if (!f || (n_frames && !frames)) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    if (n_frames == 0) return SIFF_OK;
    proj_ctx c;
    memset(&c, 0, sizeof c);
    int rc = siff_io_check(&f->io, err);
    if (!rc) rc = check_plane(f, frames, n_frames, &c, err);
    if (rc) return rc;
    c.Wp = c.W + 2;
    c.inv_w = 1.0 / c.W;
    c.pixels = (uint64_t)c.H * c.W;
    c.f = f;
    c.frames = frames;
    c.shifts = shifts;
    c.out = out;
    if (!out || out_len < SIFF_PROJ_PLANES * c.pixels)
        return siff_fail(err, SIFF_ERR_ARG, -1, -1,
                         "the output needs %d x %u x %u elements, got %llu", SIFF_PROJ_PLANES,
                         c.H, c.W, (unsigned long long)out_len);
    int T = n_threads < 1 ? 1 : (n_threads > PROJ_MAX_THREADS ? PROJ_MAX_THREADS : n_threads);
    if ((uint64_t)T > n_frames / 2) T = n_frames >= 2 ? (int)(n_frames / 2) : 1;
#ifndef SIFF_PROJ_HAVE_THREADS
    T = 1;
#else
    if (T > 1) c.locked = pthread_mutex_init(&c.lock, NULL) == 0;
    if (!c.locked) T = 1; /* no lock: one worker, which needs none */
#endif
    proj_worker ws[PROJ_MAX_THREADS];
    memset(ws, 0, sizeof ws);
    for (int t = 0; t < T; t++) {
        ws[t].c = &c;
        ws[t].begin = n_frames * (uint64_t)t / (uint64_t)T;
        ws[t].end = n_frames * (uint64_t)(t + 1) / (uint64_t)T;
        siff_clear_error(&ws[t].err);
    }
    run_proj_workers(ws, T);
#ifdef SIFF_PROJ_HAVE_THREADS
    if (c.locked) pthread_mutex_destroy(&c.lock);
#endif
    for (int t = 0; t < T; t++) {
        if (out_of_range) *out_of_range += ws[t].oor;
        if (ws[t].rc && rc == SIFF_OK) {
            rc = ws[t].rc;
            if (err) *err = ws[t].err;
        }
    }
    if (rc == SIFF_OK) rc = siff_io_check(&f->io, err); /* a page vanished mid-run */
    return rc;
}
