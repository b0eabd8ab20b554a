/* siff_internal.h - shared by the libsiff C sources; not part of the public API. */
#ifndef SIFF_INTERNAL_H
#define SIFF_INTERNAL_H

#include "siff.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libsiff assumes a little-endian host (as .siff files are little-endian)"
#endif

/* ---- positional file reads (io.c) ---- */
typedef struct {
#ifdef _WIN32
    void *handle;
#else
    int fd;
#endif
    uint64_t size;
    unsigned flags;     /* SIFF_OPEN_* given at open */
    /* The mapping is made on first use (siff_io_map), not at open: opening stays a few
     * reads, and a handle that only reads metadata never maps. These three fields are
     * written once, by the thread that wins map_state, and read with atomics. */
    int map_state;      /* 0 not tried, 1 being made, 2 done (map may still be NULL) */
    const uint8_t *map; /* read-only mapping of the whole file, or NULL */
    int guard;          /* its slot in the SIGBUS guard's table (io.c), -1 unmapped */
    uint64_t page;      /* the system's page size (for releasing mapped pages) */
} siff_io;

/* flags: SIFF_OPEN_* (siff.h). Refuses anything but a regular file, without blocking. */
int siff_io_open(siff_io *io, const char *path, unsigned flags, siff_error *err);
void siff_io_close(siff_io *io);
/* The read-only mapping of the whole file, made at the first call (thread-safe), or NULL:
 * not mappable (SIFF_OPEN_PREAD, a network filesystem, Windows, no guard slot), or another
 * thread is making it right now. Callers read with siff_io_read when it is NULL. */
const uint8_t *siff_io_map(const siff_io *io);
/* Reads exactly len bytes at off; fails with SIFF_ERR_TRUNCATED past the end. */
int siff_io_read(const siff_io *io, uint64_t off, void *buf, uint64_t len, siff_error *err);
/* Fails when the file is now shorter than at open (someone truncated it) or a mapped read
 * hit a vanished page (the SIGBUS guard then read zeros): every kernel run checks this
 * before it starts and before it returns. */
int siff_io_check(const siff_io *io, siff_error *err);
/* Drops every mapped page that [off, off+len) touches, and those within the kernel's
 * fault-around window of it, from this process's resident set (they stay in the OS page
 * cache); keeps memory flat however frames are read. No-op unmapped. */
void siff_io_release(const siff_io *io, uint64_t off, uint64_t len);

/* Compact per-frame index entry (the full siff_frame_info is re-read on demand). */
typedef struct {
    uint64_t ifd_offset;
    uint64_t description_offset;
    uint64_t strip_offset; /* compressed: the arrival-bin block; count image is before it */
    uint64_t strip_bytes;
    uint32_t description_length;
    uint32_t width, height;
    int8_t siff_tag; /* -1 plain TIFF, 0 raw, 1 compressed */
    uint8_t flags;   /* SIFF_FRAME_* */
    /* compressed: 1 once a run found that the count image sums to exactly the arrival bins
     * stored (read and written with siff_flag_get/set: concurrent runs may set it) */
    uint8_t counts_match;
} siff_frame;

/* A byte flag several threads may set to 1 (relaxed atomics: only its own value matters). */
static inline int siff_flag_get(const uint8_t *p) {
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_RELAXED);
#else
    return *(const volatile uint8_t *)p;
#endif
}

static inline void siff_flag_set(uint8_t *p) {
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(p, 1, __ATOMIC_RELAXED);
#else
    *(volatile uint8_t *)p = 1;
#endif
}

struct siff_file {
    siff_io io;
    siff_file_info info;
    siff_frame *frames; /* info.num_frames entries */
};

/* SIFF_OK when frame is in the index; else SIFF_ERR_INDEX saying why (past the end, or
 * the frame the index stops at: cut off or a corrupt IFD). */
int siff_check_index(const siff_file *f, uint64_t frame, siff_error *err);

/* Fills err (if non-NULL) and returns status. Never prints. */
int siff_fail(siff_error *err, int status, int64_t frame, int64_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
void siff_clear_error(siff_error *err);

/* True when a + b <= limit, without overflow. */
static inline int siff_fits(uint64_t a, uint64_t b, uint64_t limit) {
    return a <= limit && b <= limit - a;
}

/* ---- text fields (text.c) ---- */
/* Finds needle in text[0..len) and parses the value up to the next '\n'. */
int siff_text_find_value(const char *text, uint64_t len, const char *needle, const char **value,
                         uint64_t *value_len);
/* The first occurrence of needle in hay, or NULL; anchor is siff_needle_anchor(needle): the
 * needle byte the search scans for (its rarest in ScanImage text). */
uint64_t siff_needle_anchor(const char *needle, uint64_t len);
const char *siff_find_bytes(const char *hay, uint64_t hay_len, const char *needle,
                            uint64_t needle_len, uint64_t anchor);
/* The value starting at start: up to the first '\n' before stop (or stop), blanks trimmed. */
void siff_trim_value(const char *start, const char *stop, const char **value,
                     uint64_t *value_len);
int siff_parse_u64(const char *s, uint64_t len, uint64_t *out);
int siff_parse_f64(const char *s, uint64_t len, double *out);

/* ---- frame decoding (decode.c) ---- */
typedef struct {
    uint8_t *buf;
    uint64_t buf_cap;
} siff_scratch;

void siff_scratch_free(siff_scratch *s);

/* A little-endian u16 of the file read in place from the mapping, where it may sit at an odd
 * address (compressed frames follow descriptions of any length): element loads through it
 * are unaligned-safe and vectorised loops do not assume 2-byte alignment. */
#if defined(__GNUC__) || defined(__clang__)
typedef uint16_t __attribute__((aligned(1))) siff_u16u;
#else
typedef uint16_t siff_u16u; /* MSVC targets load unaligned u16s */
#endif

/* One frame's data, in place in the file mapping or in scratch memory, with its registration
 * shift. */
typedef struct {
    int tag;            /* -1 plain TIFF, 0 raw, 1 compressed */
    uint32_t H, W;
    uint32_t dy, dx;    /* normalised: 0 <= dy < H, 0 <= dx < W */
    const uint8_t *words; /* raw: n little-endian u64 photon words */
    const siff_u16u *counts; /* compressed: H*W photon counts; TIFF: the H*W image */
    const siff_u16u *bins;   /* compressed: arrival bins grouped by pixel (n of them) */
    uint64_t n;         /* raw: photons; compressed: arrival bins used (= sum of counts) */
    uint64_t data_offset, data_length; /* the file bytes read for this frame */
} siff_frame_data;

/* Returns SIFF_OK when frame can be decoded at all (index, flags). */
int siff_check_frame(const siff_file *f, uint64_t frame, siff_error *err);

/* What of a compressed frame siff_load_frame reads (raw and TIFF frames read whole). */
enum {
    SIFF_LOAD_COUNTS = 0, /* the count image only */
    SIFF_LOAD_PHOTONS = 1, /* the count image and the arrival bins */
    /* the arrival bins only (fd->counts NULL) once an earlier run checked the frame's count
     * image (siff_frame.counts_match); until then as SIFF_LOAD_PHOTONS */
    SIFF_LOAD_BINS = 2
};

/* Reads frame's bytes into s (what: SIFF_LOAD_*). Checks that the count image does not
 * claim more photons than bins stored. */
int siff_load_frame(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx, int what,
                    siff_scratch *s, siff_frame_data *fd, siff_error *err);

/* Mapped pages already decoded are released in spans of up to 16 MB (see io.c): frames
 * read in file order, even far apart, share a span, and one release covers them all.
 * siff_span_add after each frame, siff_span_end once the run is over. */
typedef struct {
    uint64_t lo, hi;
} siff_span;
void siff_span_add(const siff_file *f, siff_span *sp, const siff_frame_data *fd);
void siff_span_end(const siff_file *f, siff_span *sp);

/* One photon word WORD of a raw frame (index IDX_V): IDX (photon index in the frame), PIX
 * (registered pixel) and TAU (u32 bin) for the body. Out-of-range coordinates wrap modulo H
 * and W and are counted in oor_. */
#define SIFF_RAW_ONE_(SHIFTED, WORD, IDX_V, IDX, PIX, TAU, ...)                           \
    {                                                                                  \
        const uint64_t IDX = (IDX_V);                                                  \
        uint32_t y_ = (uint32_t)((WORD) >> 48), x_ = (uint32_t)(((WORD) >> 32) & 0xffffu); \
        if (y_ >= H_ || x_ >= W_) {                                                    \
            oor_++;                                                                    \
            y_ %= H_;                                                                  \
            x_ %= W_;                                                                  \
        }                                                                              \
        if (SHIFTED) {                                                                 \
            y_ += dy_;                                                                 \
            if (y_ >= H_) y_ -= H_;                                                    \
            x_ += dx_;                                                                 \
            if (x_ >= W_) x_ -= W_;                                                    \
        }                                                                              \
        const uint32_t PIX = y_ * W_ + x_;                                             \
        const uint32_t TAU = (uint32_t)(WORD);                                         \
        (void)IDX;                                                                     \
        (void)PIX;                                                                     \
        (void)TAU;                                                                     \
        __VA_ARGS__                                                                    \
    }

/* Loops over a raw frame's photons (see SIFF_RAW_ONE_), four at a time: the four words are
 * loaded before any body runs (extensions build with -fno-strict-aliasing, so a body's
 * output stores would otherwise order every load after them), and IDX & 3 is known in each
 * of the four bodies. Geometry is copied to locals first for the same reason. */
#define SIFF_RAW_LOOP_(SHIFTED, IDX, PIX, TAU, ...)                                    \
    uint64_t g_ = 0;                                                                   \
    for (; g_ + 4 <= n_; g_ += 4) {                                                    \
        uint64_t w0_, w1_, w2_, w3_;                                                   \
        memcpy(&w0_, p_ + 8 * g_, 8);                                                  \
        memcpy(&w1_, p_ + 8 * g_ + 8, 8);                                              \
        memcpy(&w2_, p_ + 8 * g_ + 16, 8);                                             \
        memcpy(&w3_, p_ + 8 * g_ + 24, 8);                                             \
        SIFF_RAW_ONE_(SHIFTED, w0_, g_, IDX, PIX, TAU, __VA_ARGS__)                    \
        SIFF_RAW_ONE_(SHIFTED, w1_, g_ | 1, IDX, PIX, TAU, __VA_ARGS__)                \
        SIFF_RAW_ONE_(SHIFTED, w2_, g_ | 2, IDX, PIX, TAU, __VA_ARGS__)                \
        SIFF_RAW_ONE_(SHIFTED, w3_, g_ | 3, IDX, PIX, TAU, __VA_ARGS__)                \
    }                                                                                  \
    for (; g_ < n_; g_++) {                                                            \
        uint64_t w_;                                                                   \
        memcpy(&w_, p_ + 8 * g_, 8);                                                   \
        SIFF_RAW_ONE_(SHIFTED, w_, g_, IDX, PIX, TAU, __VA_ARGS__)                     \
    }

/* Loops over a raw frame's photons (see SIFF_RAW_LOOP_). Unshifted frames take a loop
 * without the shift arithmetic. */
#define SIFF_FOR_RAW_PHOTONS_I(fd, oor, IDX, PIX, TAU, ...)                            \
    do {                                                                               \
        const uint8_t *p_ = (fd)->words;                                               \
        const uint64_t n_ = (fd)->n;                                                   \
        const uint32_t H_ = (fd)->H, W_ = (fd)->W, dy_ = (fd)->dy, dx_ = (fd)->dx;     \
        uint64_t oor_ = 0;                                                             \
        if (dy_ == 0 && dx_ == 0) {                                                    \
            SIFF_RAW_LOOP_(0, IDX, PIX, TAU, __VA_ARGS__)                              \
        } else {                                                                       \
            SIFF_RAW_LOOP_(1, IDX, PIX, TAU, __VA_ARGS__)                              \
        }                                                                              \
        *(oor) += oor_;                                                                \
    } while (0)

#define SIFF_FOR_RAW_PHOTONS(fd, oor, PIX, TAU, ...)                                   \
    SIFF_FOR_RAW_PHOTONS_I(fd, oor, i_, PIX, TAU, __VA_ARGS__)

/* Loops over the row segments of a compressed (or TIFF) count image that stay contiguous
 * after the registration shift: CNT points at LEN counts of the file row, which land at
 * registered pixels TOFF, TOFF+1, ... (file order is kept: segment 0 then 1 of each row). */
#define SIFF_FOR_SEGMENTS(fd, CNT, TOFF, LEN, ...)                                      \
    do {                                                                               \
        const uint32_t H_ = (fd)->H, W_ = (fd)->W, dy_ = (fd)->dy, dx_ = (fd)->dx;     \
        const uint32_t split_ = W_ - dx_;                                              \
        for (uint32_t y_ = 0; y_ < H_; y_++) {                                         \
            uint32_t ry_ = y_ + dy_;                                                   \
            if (ry_ >= H_) ry_ -= H_;                                                  \
            const siff_u16u *row_ = (fd)->counts + (uint64_t)y_ * W_;                   \
            const uint64_t base_ = (uint64_t)ry_ * W_;                                 \
            for (int s_ = 0; s_ < 2; s_++) {                                           \
                const siff_u16u *CNT = s_ ? row_ + split_ : row_;                       \
                const uint64_t TOFF = s_ ? base_ : base_ + dx_;                        \
                const uint32_t LEN = s_ ? dx_ : split_;                                \
                __VA_ARGS__                                                            \
            }                                                                          \
        }                                                                              \
    } while (0)

/* Loops over the non-empty pixels of a compressed (or TIFF) count image: PIX (registered
 * pixel), C (count) and BINS (compressed only: its C arrival bins). */
#define SIFF_FOR_PIXELS(fd, PIX, C, BINS, ...)                                          \
    do {                                                                               \
        const siff_u16u *b_ = (fd)->bins;                                               \
        const siff_u16u *cnt_ = (fd)->counts;                                           \
        const uint32_t H_ = (fd)->H, W_ = (fd)->W, dy_ = (fd)->dy, dx_ = (fd)->dx;     \
        for (uint32_t y_ = 0; y_ < H_; y_++) {                                         \
            uint32_t ry_ = y_ + dy_;                                                   \
            if (ry_ >= H_) ry_ -= H_;                                                  \
            const siff_u16u *row_ = cnt_ + (uint64_t)y_ * W_;                          \
            for (uint32_t x_ = 0; x_ < W_; x_++) {                                     \
                const uint32_t C = row_[x_];                                           \
                if (!C) continue;                                                      \
                uint32_t rx_ = x_ + dx_;                                               \
                if (rx_ >= W_) rx_ -= W_;                                              \
                const uint32_t PIX = ry_ * W_ + rx_;                                   \
                const siff_u16u *BINS = b_;                                             \
                (void)BINS;                                                            \
                if (b_) b_ += C;                                                       \
                __VA_ARGS__                                                            \
            }                                                                          \
        }                                                                              \
    } while (0)

#endif
