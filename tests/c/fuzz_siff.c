/* Fuzz target for the IFD walk and every decoding kernel.
 *
 * With libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibsiff/csrc \
 *                    tests/c/fuzz_siff.c libsiff/csrc/[a-z]*.c -lm -lpthread
 * Without it (the test suite, under ASan/UBSan): ./fuzz_siff SEED_FILE ITERATIONS
 * mutates SEED_FILE deterministically ITERATIONS times and runs each mutant. */
#define _POSIX_C_SOURCE 200809L
#include "siff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[512];

static void exercise(const uint8_t *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, size, fp);
    fclose(fp);
    siff_error err;
    siff_file *f = siff_open(path, &err);
    if (!f) return;
    siff_file_info info;
    siff_get_info(f, &info);
    uint64_t n = info.num_frames < 64 ? info.num_frames : 64;
    uint64_t frames[64];
    int64_t shifts[128];
    for (uint64_t i = 0; i < n; i++) {
        frames[i] = i;
        shifts[2 * i] = (int64_t)i * 7 - 20;
        shifts[2 * i + 1] = -(int64_t)i * 3;
    }
    siff_frame_info fi[4];
    siff_get_frame_infos(f, 0, n < 4 ? n : 4, fi, &err);
    char text[512];
    uint64_t len;
    for (uint64_t i = 0; i < n; i++) siff_read_description(f, i, text, sizeof text, &len, &err);
    double f64[64];
    uint64_t u64[64];
    uint8_t found[64];
    for (int field = 0; field <= 4; field++)
        siff_read_fields(f, frames, n, field, f64, u64, found, &err);
    static const int kinds[] = {SIFF_OUT_IMAGE, SIFF_OUT_MASK_SUMS, SIFF_OUT_MASK_FLIM,
                                SIFF_OUT_HISTOGRAM, SIFF_OUT_FULL, SIFF_OUT_PIXEL_FLIM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int variant = 0; variant < 2; variant++) {
            siff_request req;
            memset(&req, 0, sizeof req);
            req.kind = kinds[k];
            req.frames = frames;
            req.n_frames = n;
            req.shifts = variant ? shifts : NULL;
            req.sum_frames = variant && kinds[k] != SIFF_OUT_FULL && kinds[k] != SIFF_OUT_MASK_SUMS
                             && kinds[k] != SIFF_OUT_MASK_FLIM;
            req.n_threads = 2;
            uint64_t pixels = info.height * info.width;
            uint8_t *masks = NULL;
            if (kinds[k] == SIFF_OUT_MASK_SUMS || kinds[k] == SIFF_OUT_MASK_FLIM || variant) {
                if (pixels == 0 || pixels > (1u << 22)) continue;
                req.n_masks = variant ? 3 : 1;
                req.mask_planes = 2;
                masks = malloc((size_t)(req.n_masks * 2 * pixels));
                for (uint64_t q = 0; q < req.n_masks * 2 * pixels; q++) masks[q] = (q * 7) % 3 == 0;
                req.masks = masks;
            }
            uint64_t a, b, c, d;
            if (siff_request_sizes(f, &req, &a, &b, &c, &d, &err) != SIFF_OK ||
                a > (1u << 26) || b > (1u << 26) || c > (1u << 26) || d > (1u << 26)) {
                free(masks);
                continue;
            }
            req.out_u16 = a ? malloc((size_t)a * 2) : NULL;
            req.out_u64 = b ? malloc((size_t)b * 8) : NULL;
            req.out_tau_u64 = c ? malloc((size_t)c * 8) : NULL;
            req.out_re = d ? malloc((size_t)d * 8) : NULL;
            req.out_im = d ? malloc((size_t)d * 8) : NULL;
            req.out_u16_len = a;
            req.out_u64_len = b;
            req.out_tau_len = c;
            req.out_phasor_len = d;
            /* per-frame lifetimes (phasor: 2 doubles per pixel) */
            req.lifetime_phasor = variant;
            req.out_lifetime = a ? malloc((size_t)a * 16) : NULL;
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
    }
    siff_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) snprintf(path, sizeof path, "/tmp/siff_fuzz_%d.siff", (int)getpid());
    exercise(data, size);
    return 0;
}

#ifndef SIFF_LIBFUZZER
int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SEED_FILE ITERATIONS [TMPDIR]\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/fuzz_case.siff", argc > 3 ? argv[3] : "/tmp");
    FILE *fp = fopen(argv[1], "rb");
    if (!fp) return 2;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *seed = malloc((size_t)size), *work = malloc((size_t)size);
    if (fread(seed, 1, (size_t)size, fp) != (size_t)size) return 2;
    fclose(fp);
    unsigned long long state = 0x9E3779B97F4A7C15ull;
    int iterations = atoi(argv[2]);
    for (int it = 0; it < iterations; it++) {
        memcpy(work, seed, (size_t)size);
        size_t len = (size_t)size;
        int edits = 1 + (int)(state % 8);
        for (int e = 0; e < edits; e++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)((state >> 33) % (unsigned long long)len);
            int what = (int)((state >> 20) % 10);
            if (what < 6) work[at] = (uint8_t)(state >> 8);
            else if (what < 8) memset(work + at, 0xff, len - at < 8 ? len - at : 8);
            else len = at + 1; /* truncate */
        }
        exercise(work, len);
    }
    free(seed);
    free(work);
    printf("%d mutants run\n", iterations);
    return 0;
}
#endif
