/* Fuzz target: every public call of the C core on an arbitrary file.
 *
 * The input is written to a temporary file (removed after each run) and opened through
 * both read paths (file mapping and positional reads). The last input byte picks the
 * variant: thread count (1-8), the number of masks (1, 3 or 17: the > 16 path), frame lists
 * in order, repeated or with an index past the end, phasor on or off.
 *
 * With libFuzzer (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DSIFF_LIBFUZZER -Ilibsiff/csrc \
 *         tests/c/fuzz_siff.c libsiff/csrc/[a-z]*.c -lm -lpthread -o fuzz_siff
 *   ./fuzz_siff -max_total_time=60 tests/c/corpus
 * Without it (gcc, under ASan/UBSan): ./fuzz_siff ITERATIONS TMPDIR SEED_FILE...
 * mutates each seed deterministically ITERATIONS times and runs every mutant. */
#define _POSIX_C_SOURCE 200809L
#include "siff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FRAMES 64
#define MAX_ELEMS ((uint64_t)1 << 24) /* skip requests whose outputs exceed this */

static char path[512];

static void cleanup(void) {
    if (path[0]) unlink(path);
}

static void read_texts(siff_file *f, const siff_file_info *info) {
    siff_error err;
    char small[64];
    uint64_t cap = info->nvfd_length < (1u << 20) ? info->nvfd_length : (1u << 20);
    char *text = malloc((size_t)cap + 1);
    if (text) {
        siff_read_nvfd(f, text, cap, &err);
        free(text);
    }
    cap = info->roi_length < (1u << 20) ? info->roi_length : (1u << 20);
    text = malloc((size_t)cap + 1);
    if (text) {
        siff_read_roi_text(f, text, cap, &err);
        free(text);
    }
    siff_read_nvfd(f, small, sizeof small, &err);
    siff_read_roi_text(f, small, 0, &err);
    siff_status_name(err.status);
}

static void read_frame_facts(siff_file *f, const siff_file_info *info, const uint64_t *list,
                             uint64_t n) {
    siff_error err;
    siff_frame_info fi[MAX_FRAMES];
    uint64_t have = info->num_frames < MAX_FRAMES ? info->num_frames : MAX_FRAMES;
    siff_get_frame_infos(f, 0, have, fi, &err); /* every frame */
    if (info->num_frames) siff_get_frame_infos(f, info->num_frames - 1, 1, fi, &err); /* last */
    siff_get_frame_infos(f, info->num_frames, 1, fi, &err);    /* past the end */
    siff_get_frame_infos(f, UINT64_MAX, 2, fi, &err);          /* overflowing range */
    char text[300];
    uint64_t len = 0;
    for (uint64_t i = 0; i < n; i++) {
        siff_read_description(f, list[i], text, sizeof text, &len, &err);
        siff_read_description(f, list[i], NULL, 0, &len, &err); /* length query */
    }
    double f64[6 * MAX_FRAMES];
    uint64_t u64[6 * MAX_FRAMES];
    uint8_t found[6 * MAX_FRAMES]; /* SIFF_FIELD_EPOCH_BOTH fills 2 values a frame */
    for (int field = 0; field <= 6; field++) /* 6: an unknown field */
        siff_read_fields(f, list, n, field, f64, u64, found, &err);
    siff_read_fields(f, list, n, SIFF_FIELD_EPOCH_LASER, NULL, NULL, found, &err);
    siff_read_fields(f, list, n, SIFF_FIELD_FRAME_TIMESTAMP, f64, NULL, NULL, &err);
}

static void *alloc_out(uint64_t n, size_t size) { return n ? malloc((size_t)n * size) : NULL; }

static void run_kind(siff_file *f, const siff_file_info *info, int kind, const uint64_t *list,
                     uint64_t n, const int64_t *shifts, uint64_t n_masks, int sum, int phasor,
                     int threads) {
    siff_error err;
    siff_request req;
    memset(&req, 0, sizeof req);
    req.kind = kind;
    req.frames = list;
    req.n_frames = n;
    req.shifts = shifts;
    req.sum_frames = sum;
    req.n_threads = threads;
    uint64_t pixels = info->height * info->width;
    uint8_t *masks = NULL;
    if (n_masks) {
        if (pixels == 0 || pixels > (1u << 20)) return;
        req.n_masks = n_masks;
        req.mask_planes = 2;
        masks = malloc((size_t)(n_masks * 2 * pixels));
        if (!masks) return;
        for (uint64_t q = 0; q < n_masks * 2 * pixels; q++) masks[q] = (q * 7 + q / 5) % 3 == 0;
        req.masks = masks;
    }
    uint64_t a, b, c, d;
    if (siff_request_sizes(f, &req, &a, &b, &c, &d, &err) != SIFF_OK || a > MAX_ELEMS ||
        b > MAX_ELEMS || c > MAX_ELEMS || d > MAX_ELEMS) {
        free(masks);
        return;
    }
    req.out_u16 = alloc_out(a, 2);
    req.out_u64 = alloc_out(b, 8);
    req.out_tau_u64 = alloc_out(c, 8);
    req.out_re = phasor ? alloc_out(d, 8) : NULL;
    req.out_im = phasor ? alloc_out(d, 8) : NULL;
    req.out_u16_len = a;
    req.out_u64_len = b;
    req.out_tau_len = c;
    req.out_phasor_len = phasor ? d : 0;
    /* per-frame pixel lifetimes: one double per pixel, (g, s) pairs with lifetime_phasor */
    req.lifetime_phasor = phasor;
    req.out_lifetime = a ? (double *)alloc_out(a * 2, 8) : NULL;
    req.out_lifetime_len = a * 2;
    siff_run(f, &req, &err);
    free(req.out_lifetime);
    free(req.out_u16);
    free(req.out_u64);
    free(req.out_tau_u64);
    free(req.out_re);
    free(req.out_im);
    free(masks);
}

static void run_kernels(siff_file *f, const siff_file_info *info, const uint64_t *list,
                        uint64_t n, const int64_t *shifts, uint8_t variant) {
    static const int kinds[] = {SIFF_OUT_IMAGE, SIFF_OUT_MASK_SUMS, SIFF_OUT_MASK_FLIM,
                                SIFF_OUT_HISTOGRAM, SIFF_OUT_FULL, SIFF_OUT_PIXEL_FLIM};
    static const uint64_t mask_counts[] = {1, 3, 17};
    const int threads = 1 + (variant & 7);
    const uint64_t masks = mask_counts[(variant >> 3) % 3];
    const int phasor = (variant >> 5) & 1;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const int kind = kinds[k];
        const int needs_masks = kind == SIFF_OUT_MASK_SUMS || kind == SIFF_OUT_MASK_FLIM;
        const int can_sum = kind == SIFF_OUT_IMAGE || kind == SIFF_OUT_HISTOGRAM ||
                            kind == SIFF_OUT_PIXEL_FLIM;
        run_kind(f, info, kind, list, n, NULL, needs_masks ? 1 : 0, 0, phasor, threads);
        run_kind(f, info, kind, list, n, shifts, needs_masks ? masks : 0, can_sum, !phasor,
                 threads);
        if (kind == SIFF_OUT_HISTOGRAM) { /* masked histograms, per frame and summed */
            run_kind(f, info, kind, list, n, shifts, masks, 0, 0, threads);
            run_kind(f, info, kind, list, n, NULL, masks, 1, 0, threads);
        }
    }
    run_kind(f, info, 99, list, n, NULL, 0, 0, 0, threads); /* unknown kind */
    run_kind(f, info, SIFF_OUT_MASK_SUMS, list, n, NULL, 0, 0, 0, threads); /* no masks */
}

/* Plane projection sums: registered and not, then an output one element short and none. */
static void run_projections(siff_file *f, const siff_file_info *info, const uint64_t *list,
                            uint64_t n, const int64_t *shifts, int threads) {
    siff_error err;
    uint64_t oor;
    const uint64_t len = info->height * info->width * SIFF_PROJ_PLANES;
    if (len == 0 || len > MAX_ELEMS) return;
    uint64_t *out = calloc((size_t)len, 8);
    if (!out) return;
    siff_projection_sums(f, list, n, NULL, threads, out, len, &oor, &err);
    siff_projection_sums(f, list, n, shifts, threads, out, len, NULL, &err);
    siff_projection_sums(f, list, n, shifts, 1, out, len - 1, &oor, &err);
    siff_projection_sums(f, list, n, NULL, threads, NULL, 0, &oor, &err);
    siff_projection_sums(f, list, 0, NULL, threads, NULL, 0, NULL, NULL);
    free(out);
}

static void exercise_file(siff_file *f, uint8_t variant) {
    siff_file_info info;
    siff_get_info(f, &info);
    read_texts(f, &info);
    /* the frame list: in order, repeated, or reversed with one index past the end */
    uint64_t list[3 * MAX_FRAMES];
    int64_t shifts[6 * MAX_FRAMES];
    uint64_t have = info.num_frames < MAX_FRAMES ? info.num_frames : MAX_FRAMES, n = 0;
    const int shape = (variant >> 6) & 3;
    for (uint64_t i = 0; i < have; i++) list[n++] = shape == 2 ? have - 1 - i : i;
    if (shape == 1)
        for (uint64_t i = 0; i < 2 * have; i++) list[n++] = (i * 5) % (have ? have : 1);
    if (shape == 2) list[n++] = info.num_frames + (variant & 1 ? 0 : 1000);
    for (uint64_t i = 0; i < n; i++) {
        shifts[2 * i] = (int64_t)i * 7 - 20;
        shifts[2 * i + 1] = i % 3 ? -(int64_t)i * 3 : INT64_MIN + (int64_t)i;
    }
    read_frame_facts(f, &info, list, n);
    run_kernels(f, &info, list, n, shifts, variant);
    run_projections(f, &info, list, n, shifts, 1 + (variant & 7));
}

static void exercise(const uint8_t *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, size, fp);
    fclose(fp);
    const uint8_t variant = size ? data[size - 1] : 0;
    siff_error err;
    for (unsigned flags = 0; flags <= SIFF_OPEN_PREAD; flags += SIFF_OPEN_PREAD) {
        siff_file *f = siff_open_ex(path, flags, &err);
        if (!f) continue;
        exercise_file(f, (uint8_t)(variant + flags * 37));
        siff_close(f);
    }
    siff_close(NULL);
    unlink(path);
}

static void set_path(const char *dir) {
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/siff_fuzz_%d.siff", dir ? dir : "/tmp", (int)getpid());
        atexit(cleanup);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    set_path(getenv("TMPDIR"));
    exercise(data, size);
    return 0;
}

#ifndef SIFF_LIBFUZZER
static int run_seed(const char *seed_path, int iterations, unsigned long long *state) {
    FILE *fp = fopen(seed_path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (size <= 0) {
        fclose(fp);
        return 0;
    }
    uint8_t *seed = malloc((size_t)size), *work = malloc((size_t)size);
    size_t got = seed ? fread(seed, 1, (size_t)size, fp) : 0;
    fclose(fp);
    if (!seed || !work || got != (size_t)size) {
        free(seed);
        free(work);
        return 0;
    }
    exercise(seed, (size_t)size);
    for (int it = 0; it < iterations; it++) {
        memcpy(work, seed, (size_t)size);
        size_t len = (size_t)size;
        int edits = 1 + (int)(*state % 8);
        for (int e = 0; e < edits; e++) {
            *state = *state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)((*state >> 33) % (unsigned long long)len);
            int what = (int)((*state >> 20) % 10);
            if (what < 6) work[at] = (uint8_t)(*state >> 8);
            else if (what < 8) memset(work + at, 0xff, len - at < 8 ? len - at : 8);
            else len = at + 1; /* truncate */
        }
        exercise(work, len);
    }
    free(seed);
    free(work);
    return iterations + 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s ITERATIONS TMPDIR SEED_FILE...\n", argv[0]);
        return 2;
    }
    set_path(argv[2]);
    unsigned long long state = 0x9E3779B97F4A7C15ull;
    long total = 0;
    for (int i = 3; i < argc; i++) total += run_seed(argv[i], atoi(argv[1]), &state);
    printf("%ld inputs run\n", total);
    return 0;
}
#endif
