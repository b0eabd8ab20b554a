/* siff_internal.h - shared by the libsiff C sources; not part of the public API. */
#ifndef SIFF_INTERNAL_H
#define SIFF_INTERNAL_H

#include "siff.h"

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
} siff_io;

int siff_io_open(siff_io *io, const char *path, siff_error *err);
void siff_io_close(siff_io *io);
/* Reads exactly len bytes at off; fails with SIFF_ERR_TRUNCATED past the end. */
int siff_io_read(const siff_io *io, uint64_t off, void *buf, uint64_t len, siff_error *err);

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
} siff_frame;

struct siff_file {
    siff_io io;
    siff_file_info info;
    siff_frame *frames; /* info.num_frames entries */
};

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
int siff_parse_u64(const char *s, uint64_t len, uint64_t *out);
int siff_parse_f64(const char *s, uint64_t len, double *out);

/* ---- frame decoding (decode.c) ---- */
typedef struct {
    uint8_t *buf;
    uint64_t buf_cap;
    uint32_t *pix; /* registered pixel index y*W + x */
    uint32_t *tau; /* arrival bin */
    uint64_t photon_cap;
} siff_scratch;

void siff_scratch_free(siff_scratch *s);

/* Decodes the photons of a raw or compressed frame into s->pix / s->tau (registered by the
 * normalised shift dy in [0,H), dx in [0,W)). *n receives the photon count; *oor is
 * incremented by the photons whose coordinates were out of range. */
int siff_decode_photons(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx,
                        siff_scratch *s, uint64_t *n, uint64_t *oor, siff_error *err);

/* Intensity of one frame, registered, as uint32 counts into img (H*W). Works for every
 * frame kind; reads only the count image of compressed frames. */
int siff_decode_counts(const siff_file *f, uint64_t frame, uint64_t dy, uint64_t dx,
                       siff_scratch *s, uint32_t *img, uint64_t *oor, siff_error *err);

/* Returns SIFF_OK when frame can be decoded at all (index, flags). */
int siff_check_frame(const siff_file *f, uint64_t frame, siff_error *err);

#endif
