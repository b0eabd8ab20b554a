/* C unit tests of libsiff's core, built and run by tests/test_c_core.py (no Python). */
#define _POSIX_C_SOURCE 200809L
#include "siff.h"
#include "siff_internal.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0, checks = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

/* ---- a tiny BigTIFF writer for test files ---- */
typedef struct { uint8_t *b; size_t n, cap; } buf_t;
static void put(buf_t *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put16(buf_t *b, uint16_t v) { put(b, &v, 2); }
static void put32(buf_t *b, uint32_t v) { put(b, &v, 4); }
static void put64(buf_t *b, uint64_t v) { put(b, &v, 8); }
static void set64(buf_t *b, size_t at, uint64_t v) { memcpy(b->b + at, &v, 8); }

static const char *NVFD = "SI.hScan2D.hAcq.Tau_bins = 10\nSI.hScan2D.hAcq.binResolution = 2\n";
static const char *ROI = "{}";

static void header(buf_t *b) {
    uint32_t nv = (uint32_t)strlen(NVFD), ro = (uint32_t)strlen(ROI);
    put(b, "II", 2); put16(b, 43); put16(b, 8); put16(b, 0);
    put64(b, 32 + nv + ro);
    put32(b, 117637889u); put32(b, 4); put32(b, nv); put32(b, ro);
    put(b, NVFD, nv); put(b, ROI, ro);
}

static void tag(buf_t *b, uint16_t id, uint16_t type, uint64_t count, uint64_t value) {
    put16(b, id); put16(b, type); put64(b, count); put64(b, value);
}

/* Appends one frame; returns the offset of its next-IFD field. encoding 0 raw, 1 compressed. */
static size_t frame(buf_t *b, int encoding, uint32_t H, uint32_t W, const uint64_t *words,
                    size_t nwords, const uint16_t *counts, const uint16_t *bins, size_t nbins,
                    const char *desc) {
    size_t ifd = b->n, ntags = 6;
    size_t desc_off = ifd + 16 + 20 * ntags, dlen = strlen(desc);
    size_t data = desc_off + dlen + (encoding ? 2u * H * W : 0);
    size_t bytes = encoding ? 2 * nbins : 8 * nwords;
    put64(b, ntags);
    tag(b, 256, 4, 1, W);
    tag(b, 257, 4, 1, H);
    tag(b, 270, 2, dlen, desc_off);
    tag(b, 273, 16, 1, data);
    tag(b, 279, 16, 1, bytes);
    tag(b, 907, 3, 1, (uint64_t)encoding);
    size_t next_at = b->n;
    put64(b, 0);
    put(b, desc, dlen);
    if (encoding) {
        put(b, counts, 2u * H * W);
        put(b, bins, 2 * nbins);
    } else {
        put(b, words, 8 * nwords);
    }
    return next_at;
}

static const char *write_file(const buf_t *b, const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    FILE *fp = fopen(path, "wb");
    fwrite(b->b, 1, b->n, fp);
    fclose(fp);
    return path;
}

static uint64_t word(uint16_t y, uint16_t x, uint32_t tau) {
    return ((uint64_t)y << 48) | ((uint64_t)x << 32) | tau;
}

/* The worked example of docs/format.md §6: a 2x4 frame, raw then compressed. */
static const char *example_file(void) {
    buf_t b = {0};
    header(&b);
    uint64_t words[8] = {word(0, 1, 68), word(0, 3, 81), word(1, 0, 50), word(1, 1, 99),
                         word(1, 1, 195), word(1, 2, 83), word(1, 2, 78), word(1, 3, 246)};
    uint16_t counts[8] = {0, 1, 0, 1, 1, 2, 2, 1};
    uint16_t bins[8] = {68, 81, 50, 99, 195, 83, 78, 246};
    size_t n1 = frame(&b, 0, 2, 4, words, 8, NULL, NULL, 0,
                      "frameNumbers = 1\nframeTimestamps_sec = 0.012300\nepoch = 5\n");
    set64(&b, n1, b.n);
    frame(&b, 1, 2, 4, NULL, 0, counts, bins, 8,
          "frameNumbers = 2\nframeTimestamps_sec = 1.5e-3\nmostRecentSystemTimestamp_epoch = 7\nepoch = 6\n"
          "Appended text = hi\nText timestamp = 2.5\n");
    const char *p = write_file(&b, "siff_ctest_example.siff");
    free(b.b);
    return p;
}

static void test_example(void) {
    siff_error err;
    siff_file *f = siff_open(example_file(), &err);
    CHECK(f != NULL);
    if (!f) { fprintf(stderr, "%s\n", err.message); return; }
    siff_file_info info;
    siff_get_info(f, &info);
    CHECK(info.num_frames == 2 && info.height == 2 && info.width == 4);
    CHECK(info.tau_bins == 10 && info.bin_resolution == 2 && info.bigtiff == 1);

    /* both encodings give the same image, rolled by (1, -1) */
    uint64_t frames[2] = {0, 1};
    int64_t shifts[4] = {1, -1, 1, -1};
    uint16_t img[16];
    siff_request req;
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_IMAGE;
    req.frames = frames; req.n_frames = 2; req.shifts = shifts;
    req.out_u16 = img; req.out_u16_len = 16; req.n_threads = 2;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    const uint16_t expect[8] = {2, 2, 1, 1, 1, 0, 1, 0}; /* np.roll([[0,1,0,1],[1,2,2,1]], (1,-1)) */
    CHECK(memcmp(img, expect, sizeof expect) == 0);
    CHECK(memcmp(img + 8, expect, sizeof expect) == 0);

    /* masks: one mask on the bottom row, one on column 1, one empty; photon-wise sums */
    uint8_t masks[24] = {0};
    for (int x = 0; x < 4; x++) masks[4 + x] = 1;
    masks[8 + 1] = masks[8 + 5] = 1;
    uint64_t sums[6];
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_MASK_SUMS;
    req.frames = frames; req.n_frames = 2; req.masks = masks; req.n_masks = 3; req.mask_planes = 1;
    req.out_u64 = sums; req.out_u64_len = 6;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    CHECK(sums[0] == 6 && sums[1] == 6 && sums[2] == 3 && sums[3] == 3 && sums[4] == 0 && sums[5] == 0);

    /* histogram over both frames: L = Tau_bins + 2 = 12, bins taken mod 12 */
    uint64_t hist[12];
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_HISTOGRAM; req.frames = frames; req.n_frames = 2; req.sum_frames = 1;
    req.out_u64 = hist; req.out_u64_len = 12;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    uint64_t total = 0;
    for (int i = 0; i < 12; i++) total += hist[i];
    CHECK(total == 16 && hist[68 % 12] >= 2 && hist[246 % 12] >= 2);

    /* ROI lifetime of pixel (1,1): (99 + 195) / 2 in both encodings */
    uint8_t one[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    uint64_t cnt[2], tsum[2];
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_MASK_FLIM; req.frames = frames; req.n_frames = 2;
    req.masks = one; req.n_masks = 1; req.mask_planes = 1;
    req.out_u64 = cnt; req.out_u64_len = 2; req.out_tau_u64 = tsum; req.out_tau_len = 2;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    CHECK(cnt[0] == 2 && cnt[1] == 2 && tsum[0] == 294 && tsum[1] == 294);

    /* description fields */
    double ts[2];
    uint64_t ep[2];
    uint8_t found[2];
    CHECK(siff_read_fields(f, frames, 2, SIFF_FIELD_FRAME_TIMESTAMP, ts, NULL, found, &err) == SIFF_OK);
    CHECK(found[0] && found[1] && ts[0] == 0.0123 && ts[1] == 1.5e-3);
    CHECK(siff_read_fields(f, frames, 2, SIFF_FIELD_EPOCH_LASER, NULL, ep, found, &err) == SIFF_OK);
    CHECK(ep[0] == 5 && ep[1] == 6);
    CHECK(siff_read_fields(f, frames, 2, SIFF_FIELD_EPOCH_SYSTEM, NULL, ep, found, &err) == SIFF_OK);
    CHECK(!found[0] && found[1] && ep[1] == 7);
    CHECK(siff_read_fields(f, frames, 2, SIFF_FIELD_HAS_APPENDED_TEXT, NULL, NULL, found, &err) == SIFF_OK);
    CHECK(!found[0] && found[1]);

    /* index errors name the frame */
    uint64_t bad = 2;
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_IMAGE; req.frames = &bad; req.n_frames = 1; req.out_u16 = img; req.out_u16_len = 8;
    CHECK(siff_run(f, &req, &err) == SIFF_ERR_INDEX && err.frame == 2);
    /* too small an output buffer is refused, not overrun */
    req.frames = frames; req.n_frames = 2; req.out_u16_len = 15;
    CHECK(siff_run(f, &req, &err) == SIFF_ERR_ARG);
    siff_close(f);
    siff_close(NULL);
}


/* ---- kernels against brute force: random raw and compressed frames, odd sizes, shifts,
 * cycled mask planes, 1 to 300 masks (up to thousands of distinct mask sets) ---- */
enum { KH = 13, KW = 37, KP = KH * KW, KL = 12, KFRAMES = 6 };
typedef struct { uint16_t y[4000], x[4000]; uint32_t tau[4000]; size_t n; int enc; } kframe;

static uint64_t rnd_state = 88172645463325252u;
static uint64_t rnd(void) {
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static const char *kernel_file(kframe *fr) {
    buf_t b = {0};
    header(&b);
    size_t next = 0;
    for (int i = 0; i < KFRAMES; i++) {
        kframe *k = &fr[i];
        k->enc = i % 2;
        uint16_t counts[KP] = {0};
        if (k->enc) { /* compressed: photons in pixel order */
            k->n = 0;
            for (int p = 0; p < KP; p++) {
                counts[p] = (uint16_t)(rnd() % 5 == 0 ? rnd() % 7 : 0);
                for (int q = 0; q < counts[p]; q++, k->n++) {
                    k->y[k->n] = (uint16_t)(p / KW);
                    k->x[k->n] = (uint16_t)(p % KW);
                    k->tau[k->n] = (uint32_t)(rnd() % 40);
                }
            }
        } else {
            k->n = 1500 + rnd() % 2000;
            for (size_t j = 0; j < k->n; j++) {
                k->y[j] = (uint16_t)(rnd() % KH);
                k->x[j] = (uint16_t)(rnd() % KW);
                k->tau[j] = (uint32_t)(rnd() % 40);
            }
        }
        uint64_t words[4000];
        uint16_t bins[4000];
        for (size_t j = 0; j < k->n; j++) {
            words[j] = word(k->y[j], k->x[j], k->tau[j]);
            bins[j] = (uint16_t)k->tau[j];
        }
        if (next) set64(&b, next, b.n);
        /* an odd-length description puts the count image and bins at odd offsets: the
         * kernels read them in place from the mapping all the same */
        next = k->enc ? frame(&b, 1, KH, KW, NULL, 0, counts, bins, k->n,
                              i % 4 == 1 ? "epoch = 12\n" : "epoch = 1\n")
                      : frame(&b, 0, KH, KW, words, k->n, NULL, NULL, 0, "epoch = 1\n");
    }
    const char *p = write_file(&b, "siff_ctest_kernels.siff");
    free(b.b);
    return p;
}

static void test_kernels_brute_force(void) {
    static kframe fr[KFRAMES];
    siff_error err;
    siff_file *f = siff_open(kernel_file(fr), &err);
    CHECK(f != NULL);
    if (!f) return;
    uint64_t frames[KFRAMES + 1];
    int64_t shifts[2 * (KFRAMES + 1)];
    for (int i = 0; i <= KFRAMES; i++) {
        frames[i] = (uint64_t)(i < KFRAMES ? KFRAMES - 1 - i : 2); /* reversed, one repeat */
        shifts[2 * i] = (int64_t)(rnd() % 40) - 20;
        shifts[2 * i + 1] = (int64_t)(rnd() % 90) - 45;
    }
    const uint64_t n = KFRAMES + 1, planes = 2;
    const uint64_t counts_r[] = {1, 5, 16, 70, 300};
    for (size_t ci = 0; ci < sizeof counts_r / sizeof counts_r[0]; ci++) {
        const uint64_t R = counts_r[ci];
        uint8_t *masks = calloc(R * planes * KP, 1);
        for (uint64_t q = 0; q < R * planes * KP; q++) masks[q] = rnd() % 3 == 0;
        uint64_t *want_c = calloc(R * n, 8), *want_t = calloc(R * n, 8);
        uint64_t *want_h = calloc(R * n * KL, 8);
        for (uint64_t i = 0; i < n; i++) {
            const kframe *k = &fr[frames[i]];
            int64_t dy = ((shifts[2 * i] % KH) + KH) % KH, dx = ((shifts[2 * i + 1] % KW) + KW) % KW;
            for (size_t j = 0; j < k->n; j++) {
                uint64_t pix = (uint64_t)((k->y[j] + dy) % KH) * KW + (uint64_t)((k->x[j] + dx) % KW);
                for (uint64_t r = 0; r < R; r++)
                    if (masks[(r * planes + i % planes) * KP + pix]) {
                        want_c[r * n + i]++;
                        want_t[r * n + i] += k->tau[j];
                        want_h[(r * n + i) * KL + k->tau[j] % KL]++;
                    }
            }
        }
        uint64_t *got_c = calloc(R * n, 8), *got_t = calloc(R * n, 8), *got_h = calloc(R * n * KL, 8);
        siff_request req;
        for (int threads = 1; threads <= 3; threads += 2) {
            memset(&req, 0, sizeof req);
            req.frames = frames; req.n_frames = n; req.shifts = shifts; req.n_threads = threads;
            req.masks = masks; req.n_masks = R; req.mask_planes = planes;
            req.kind = SIFF_OUT_MASK_SUMS; req.out_u64 = got_c; req.out_u64_len = R * n;
            CHECK(siff_run(f, &req, &err) == SIFF_OK);
            CHECK(memcmp(got_c, want_c, R * n * 8) == 0);
            memset(got_c, 0xff, R * n * 8);
            req.kind = SIFF_OUT_MASK_FLIM; req.out_tau_u64 = got_t; req.out_tau_len = R * n;
            CHECK(siff_run(f, &req, &err) == SIFF_OK);
            CHECK(memcmp(got_c, want_c, R * n * 8) == 0 && memcmp(got_t, want_t, R * n * 8) == 0);
            req.kind = SIFF_OUT_HISTOGRAM; req.out_tau_u64 = NULL; req.out_tau_len = 0;
            req.out_u64 = got_h; req.out_u64_len = R * n * KL;
            CHECK(siff_run(f, &req, &err) == SIFF_OK);
            CHECK(memcmp(got_h, want_h, R * n * KL * 8) == 0);
        }
        free(masks); free(want_c); free(want_t); free(want_h); free(got_c); free(got_t); free(got_h);
    }

    /* per-frame lifetimes written directly: bin sum / count - offset, NaN without photons */
    uint16_t cnt16[KFRAMES * KP];
    double life[KFRAMES * KP];
    siff_request req;
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_PIXEL_FLIM; req.frames = frames; req.n_frames = KFRAMES; req.shifts = shifts;
    req.out_u16 = cnt16; req.out_u16_len = KFRAMES * KP; req.lifetime_offset = 1.5;
    req.out_lifetime = life; req.out_lifetime_len = KFRAMES * KP; req.n_threads = 2;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    int life_ok = 1;
    for (uint64_t i = 0; i < KFRAMES; i++) {
        const kframe *k = &fr[frames[i]];
        uint64_t c[KP] = {0}, t[KP] = {0};
        int64_t dy = ((shifts[2 * i] % KH) + KH) % KH, dx = ((shifts[2 * i + 1] % KW) + KW) % KW;
        for (size_t j = 0; j < k->n; j++) {
            uint64_t pix = (uint64_t)((k->y[j] + dy) % KH) * KW + (uint64_t)((k->x[j] + dx) % KW);
            c[pix]++;
            t[pix] += k->tau[j];
        }
        for (int p = 0; p < KP; p++) {
            life_ok &= cnt16[i * KP + p] == c[p];
            life_ok &= c[p] ? life[i * KP + p] == (double)t[p] / (double)c[p] - 1.5
                            : isnan(life[i * KP + p]);
        }
    }
    CHECK(life_ok);
    req.out_lifetime_len = KFRAMES * KP - 1; /* too small: refused, not overrun */
    CHECK(siff_run(f, &req, &err) == SIFF_ERR_ARG);
    siff_close(f);
}

/* Projection sums of mixed raw/compressed frames, shifted, against per-frame count images
 * built from the photons written; a second call adds to the first. */
static void test_projection_brute_force(void) {
    static kframe fr[KFRAMES];
    siff_error err;
    siff_file *f = siff_open(kernel_file(fr), &err);
    CHECK(f != NULL);
    if (!f) return;
    enum { N = KFRAMES + 1 };
    uint64_t frames[N];
    int64_t shifts[2 * N];
    for (int i = 0; i < N; i++) {
        frames[i] = (uint64_t)(i < KFRAMES ? KFRAMES - 1 - i : 3);
        shifts[2 * i] = (int64_t)(rnd() % 40) - 20;
        shifts[2 * i + 1] = (int64_t)(rnd() % 90) - 45;
    }
    static uint64_t want[SIFF_PROJ_PLANES * KP], got[SIFF_PROJ_PLANES * KP];
    memset(want, 0, sizeof want);
    static const int off[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};
    for (int i = 0; i < N; i++) {
        const kframe *k = &fr[frames[i]];
        int64_t dy = ((shifts[2 * i] % KH) + KH) % KH, dx = ((shifts[2 * i + 1] % KW) + KW) % KW;
        uint64_t c[KP] = {0};
        for (size_t j = 0; j < k->n; j++)
            c[(uint64_t)((k->y[j] + dy) % KH) * KW + (uint64_t)((k->x[j] + dx) % KW)]++;
        for (int y = 0; y < KH; y++)
            for (int x = 0; x < KW; x++) {
                const uint64_t v = c[y * KW + x];
                want[SIFF_PROJ_SUM * KP + y * KW + x] += v;
                want[SIFF_PROJ_SUM_SQ * KP + y * KW + x] += v * v;
                if (v > want[SIFF_PROJ_MAX * KP + y * KW + x]) want[SIFF_PROJ_MAX * KP + y * KW + x] = v;
                for (int o = 0; o < 4; o++) {
                    const int yy = y + off[o][0], xx = x + off[o][1];
                    if (yy < KH && xx >= 0 && xx < KW)
                        want[(SIFF_PROJ_RIGHT + o) * KP + y * KW + x] += v * c[yy * KW + xx];
                }
            }
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        memset(got, 0, sizeof got);
        uint64_t oor = 1;
        CHECK(siff_projection_sums(f, frames, N, shifts, threads, got, SIFF_PROJ_PLANES * KP,
                                   &oor, &err) == SIFF_OK);
        CHECK(memcmp(got, want, sizeof got) == 0 && oor == 0);
        CHECK(siff_projection_sums(f, frames, N, shifts, threads, got, SIFF_PROJ_PLANES * KP,
                                   NULL, &err) == SIFF_OK);
        int twice = 1;
        for (int q = 0; q < SIFF_PROJ_PLANES * KP; q++)
            twice &= got[q] == (q / KP == SIFF_PROJ_MAX ? want[q] : 2 * want[q]);
        CHECK(twice);
    }
    /* refused, not overrun: an output one element short, a frame past the end */
    CHECK(siff_projection_sums(f, frames, N, NULL, 2, got, SIFF_PROJ_PLANES * KP - 1, NULL,
                               &err) == SIFF_ERR_ARG);
    frames[2] = KFRAMES;
    CHECK(siff_projection_sums(f, frames, N, NULL, 2, got, SIFF_PROJ_PLANES * KP, NULL,
                               &err) == SIFF_ERR_INDEX);
    siff_close(f);
}

/* 70,000 photons in one pixel of a raw frame: the u16 count clamps (and says so), the
 * lifetime uses the true count. */
static void test_counts_never_wrap(void) {
    enum { N = 70000 };
    buf_t b = {0};
    header(&b);
    uint64_t *w = malloc(N * 8);
    for (int j = 0; j < N; j++) w[j] = word(1, 2, 3);
    frame(&b, 0, 2, 4, w, N, NULL, NULL, 0, "epoch = 1\n");
    free(w);
    siff_error err;
    siff_file *f = siff_open(write_file(&b, "siff_ctest_hot.siff"), &err);
    free(b.b);
    CHECK(f != NULL);
    if (!f) return;
    uint64_t frame0 = 0;
    uint16_t img[8];
    double life[8];
    siff_request req;
    memset(&req, 0, sizeof req);
    req.kind = SIFF_OUT_IMAGE; req.frames = &frame0; req.n_frames = 1;
    req.out_u16 = img; req.out_u16_len = 8;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    CHECK(img[6] == 65535 && img[0] == 0 && req.out_clamped_pixels == 1);
    req.kind = SIFF_OUT_PIXEL_FLIM; req.out_lifetime = life; req.out_lifetime_len = 8;
    CHECK(siff_run(f, &req, &err) == SIFF_OK);
    CHECK(img[6] == 65535 && life[6] == 3.0 && isnan(life[0]) && req.out_clamped_pixels == 1);
    uint64_t proj[SIFF_PROJ_PLANES * 8] = {0};
    CHECK(siff_projection_sums(f, &frame0, 1, NULL, 1, proj, SIFF_PROJ_PLANES * 8, NULL, &err) ==
          SIFF_OK);
    CHECK(proj[SIFF_PROJ_SUM * 8 + 6] == N && proj[SIFF_PROJ_MAX * 8 + 6] == N &&
          proj[SIFF_PROJ_SUM_SQ * 8 + 6] == (uint64_t)N * N && proj[SIFF_PROJ_SUM * 8 + 5] == 0);
    siff_close(f);
}

static void test_loop_and_truncation(void) {
    buf_t b = {0};
    header(&b);
    uint64_t w[1] = {word(0, 0, 3)};
    size_t first = b.n;
    size_t n1 = frame(&b, 0, 1, 1, w, 1, NULL, NULL, 0, "epoch = 1\n");
    set64(&b, n1, first); /* points back at itself */
    siff_error err;
    siff_file *f = siff_open(write_file(&b, "siff_ctest_loop.siff"), &err);
    CHECK(f == NULL && err.status == SIFF_ERR_FORMAT && strstr(err.message, "loops") != NULL);

    /* truncation at every byte: never a crash; opening either fails cleanly or keeps the
     * complete frames */
    set64(&b, n1, b.n);
    frame(&b, 0, 1, 1, w, 1, NULL, NULL, 0, "epoch = 2\n");
    for (size_t cut = 0; cut < b.n; cut++) {
        buf_t c = {b.b, cut, cut};
        f = siff_open(write_file(&c, "siff_ctest_cut.siff"), &err);
        if (!f) {
            CHECK(err.status == SIFF_ERR_FORMAT || err.status == SIFF_ERR_TRUNCATED);
            continue;
        }
        siff_file_info info;
        siff_get_info(f, &info);
        CHECK(info.num_frames <= 1);
        siff_close(f);
    }
    free(b.b);
}

static void test_text(void) {
    const char *t = "a = 1\nfoo =  2.5 \nepoch = 123\n";
    const char *v;
    uint64_t vl, u;
    double d;
    CHECK(siff_text_find_value(t, strlen(t), "foo = ", &v, &vl) && vl == 3);
    CHECK(siff_parse_f64(v, vl, &d) && d == 2.5);
    CHECK(siff_text_find_value(t, strlen(t), "\nepoch = ", &v, &vl) && siff_parse_u64(v, vl, &u) && u == 123);
    CHECK(!siff_text_find_value(t, strlen(t), "missing = ", &v, &vl));
    CHECK(!siff_parse_u64("12a", 3, &u) && !siff_parse_u64("", 0, &u));
    CHECK(!siff_parse_u64("99999999999999999999", 20, &u)); /* overflow */
    CHECK(!siff_parse_f64("1.5x", 4, &d));
    /* the fast path agrees with strtod to the last bit, and long forms fall back to it */
    const char *cases[] = {"0.422719", "-12.5", "1713382945.498920", "0.1", "123456789012345678",
                           "3.14159265358979323846", "1e-3", "-0.000001", "7", "0.3333333333333333"};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double got;
        CHECK(siff_parse_f64(cases[k], strlen(cases[k]), &got) && got == strtod(cases[k], NULL));
    }
    /* locale independence: a comma-decimal locale must not change parsing */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        CHECK(siff_parse_f64("0.422719", 8, &d) && d == 0.422719);
        setlocale(LC_NUMERIC, "C");
    }
    CHECK(strcmp(siff_status_name(SIFF_ERR_INDEX), "index out of range") == 0);
    CHECK(siff_version_number() == SIFF_VERSION_NUMBER);
}

int main(void) {
    test_example();
    test_kernels_brute_force();
    test_projection_brute_force();
    test_counts_never_wrap();
    test_loop_and_truncation();
    test_text();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
