/* siff.h - libsiff: reader of ScanImage-FLIM .siff (and ScanImage .tiff) files.
 *
 * One public header; every symbol is prefixed siff_.
 *
 * Memory: the library owns the siff_file handle and its frame index (freed by
 * siff_close). Every other output goes into buffers the CALLER allocates and
 * passes in with their sizes; size queries tell how big they must be.
 *
 * Threads: a siff_file is immutable after siff_open. Every read call takes the
 * handle as const and reads through a read-only file mapping (files on local disk
 * filesystems, Linux) or positional reads (pread/ReadFile: network and FUSE filesystems,
 * other systems, which report I/O errors as SIFF_ERR_IO), with its own scratch memory, so one handle may be used from
 * several threads at once. Mapped pages are released as a pass streams through them,
 * so memory stays flat however large the file. A file truncated after siff_open makes
 * siff_run fail with SIFF_ERR_IO, also when it shrinks while the call runs: a process-wide
 * SIGBUS handler (installed once, at the first mapping; it chains to the previous handler
 * for faults outside libsiff's mappings) replaces a vanished page of a libsiff mapping
 * with zeros and marks the mapping as damaged, so the call finishes, discards its output
 * and reports the error. Errors are reported in a caller-owned siff_error (may be NULL),
 * never in global or per-handle state. Only regular files are opened (a FIFO or device
 * is refused without blocking). The library never prints, aborts, or reads outside the
 * file's size.
 *
 * Limits (checked at open, before anything is allocated from a value the file declares):
 * a frame has at most SIFF_MAX_DIM rows and columns and SIFF_MAX_FRAME_PIXELS pixels (a
 * compressed or plain TIFF frame must also hold its 2-byte-per-pixel count image inside
 * the file); Tau_bins (SI.hScan2D.hAcq.Tau_bins) is at most SIFF_MAX_TAU_BINS, so an
 * arrival histogram has at most SIFF_MAX_TAU_BINS + 2 bins (a larger value is reported in
 * siff_file_info.tau_bins_declared and arrival-time calls fail with SIFF_ERR_NO_TAU_BINS);
 * a description is at most SIFF_MAX_DESCRIPTION bytes. Output sizes (siff_request_sizes)
 * are exact products of these, checked for overflow; callers compare them with the memory
 * they have before allocating.
 *
 * Geometry: a frame is H rows (y) by W columns (x), row-major. A shift (dy, dx)
 * moves data forward exactly as np.roll(frame, (dy, dx), axis=(0, 1)), for any
 * sign and size (reduced modulo H and W).
 */
#ifndef SIFF_H
#define SIFF_H

#include <stddef.h>
#include <stdint.h>

#define SIFF_VERSION_MAJOR 0
#define SIFF_VERSION_MINOR 1
#define SIFF_VERSION_PATCH 0
#define SIFF_VERSION_NUMBER 100 /* major*10000 + minor*100 + patch */

/* Limits (see above); an enum so that bindings see them too. */
enum {
    SIFF_MAX_DIM = 65536,              /* rows or columns of a frame (16-bit photon y, x) */
    SIFF_MAX_FRAME_PIXELS = 67108864,  /* pixels of a frame: 8192 x 8192 = 2^26 */
    SIFF_MAX_TAU_BINS = 65536,         /* Tau_bins; histograms have Tau_bins + 2 bins */
    SIFF_MAX_DESCRIPTION = 67108864    /* bytes of one frame description (64 MiB) */
};

/* bytes of one frame description */

typedef enum {
    SIFF_OK = 0,
    SIFF_ERR_IO = 1,          /* open/read failed (errno-level problem) */
    SIFF_ERR_FORMAT = 2,      /* not a ScanImage TIFF, corrupt structure */
    SIFF_ERR_TRUNCATED = 3,   /* a structure runs past the end of the file */
    SIFF_ERR_INDEX = 4,       /* frame index out of range */
    SIFF_ERR_ARG = 5,         /* bad argument (sizes, NULL buffers, kinds) */
    SIFF_ERR_NOMEM = 6,
    SIFF_ERR_NO_TAU_BINS = 7, /* arrival-time call but header lacks Tau_bins */
    SIFF_ERR_NOT_FLIM = 8,    /* arrival-time call on a plain TIFF frame */
    SIFF_ERR_NO_FIELD = 9,    /* description lacks a requested field */
    SIFF_ERR_SHAPE = 10       /* requested frames differ in shape */
} siff_status;

/* Filled by every fallible call when non-NULL. frame is -1 when not about one
 * frame; offset is the file offset involved, or -1. */
typedef struct {
    int status;
    int64_t frame;
    int64_t offset;
    char message[320];
} siff_error;

typedef struct siff_file siff_file;

/* Per-frame facts from the IFD. siff_tag: -1 absent (plain TIFF), 0 raw, 1 compressed. */
typedef struct {
    uint64_t ifd_offset;
    uint64_t width, height;
    uint64_t description_offset; /* ImageDescription value */
    uint64_t description_length; /* from offsets, as the format defines it */
    uint64_t strip_offset, strip_byte_count;
    int64_t siff_tag;
    uint64_t bits_per_sample, compression, photometric, orientation;
    uint64_t samples_per_pixel, rows_per_strip, resolution_unit, sample_format;
    uint64_t x_resolution, y_resolution; /* raw 8-byte value fields */
    uint64_t software_offset, artist_offset;
    uint32_t present_mask; /* SIFF_HAS_* bits: which optional tags the IFD has */
    uint32_t flags;        /* SIFF_FRAME_* bits: problems found at open */
} siff_frame_info;

/* Bits of siff_frame_info.present_mask. */
enum {
    SIFF_HAS_BITS = 1u << 0, SIFF_HAS_COMPRESSION = 1u << 1, SIFF_HAS_PHOTOMETRIC = 1u << 2,
    SIFF_HAS_DESCRIPTION = 1u << 3, SIFF_HAS_ORIENTATION = 1u << 4, SIFF_HAS_SPP = 1u << 5,
    SIFF_HAS_ROWS_PER_STRIP = 1u << 6, SIFF_HAS_XRES = 1u << 7, SIFF_HAS_YRES = 1u << 8,
    SIFF_HAS_RES_UNIT = 1u << 9, SIFF_HAS_SOFTWARE = 1u << 10, SIFF_HAS_ARTIST = 1u << 11,
    SIFF_HAS_SAMPLE_FORMAT = 1u << 12
};

/* Bits of siff_frame_info.flags: the frame is indexed but cannot be decoded. */
enum {
    SIFF_FRAME_BAD_DATA = 1u << 0,       /* data block outside the file or inconsistent */
    SIFF_FRAME_BAD_DESCRIPTION = 1u << 1,/* description offsets inconsistent */
    SIFF_FRAME_MULTI_STRIP = 1u << 2     /* more than one strip: unsupported */
};

/* Values of siff_file_info.damage. */
enum {
    SIFF_DAMAGE_NONE = 0,
    SIFF_DAMAGE_TRUNCATED = 1, /* the file ends inside frame damaged_frame (or is still written) */
    SIFF_DAMAGE_BAD_IFD = 2    /* the IFD of frame damaged_frame is corrupt; the chain stops there */
};

typedef struct {
    int bigtiff;                /* 1 BigTIFF, 0 classic TIFF */
    uint32_t si_version;        /* ScanImage header version (3 or 4) */
    uint64_t file_size;
    uint64_t first_ifd;
    uint64_t nvfd_length, roi_length;
    uint64_t num_frames;        /* complete frames (IFD and data inside the file) */
    uint64_t damaged_frame;     /* index of the first frame dropped as incomplete or bad, or
                                   UINT64_MAX; frames before it are complete and readable */
    int damage;                 /* SIFF_DAMAGE_*: why the index stops at damaged_frame */
    char damage_detail[320];    /* SIFF_DAMAGE_BAD_IFD: what is wrong with that IFD */
    int64_t tau_bins;           /* SI.hScan2D.hAcq.Tau_bins, -1 when absent, unparsable or
                                   above SIFF_MAX_TAU_BINS */
    int64_t tau_bins_declared;  /* the header's value even when too large, -1 absent */
    int64_t bin_resolution;     /* SI.hScan2D.hAcq.binResolution, -1 when absent */
    uint32_t uniform_shape;     /* 1 when every frame has the same H, W */
    uint64_t height, width;     /* of frame 0 (0 when there is no frame) */
} siff_file_info;

const char *siff_status_name(int status);
unsigned siff_version_number(void);

/* Opens path, walks the IFD chain once. On failure returns NULL and fills err. A corrupt
 * IFD after the first frame ends the index there (siff_file_info.damage says why); a
 * corrupt first IFD or a loop in the chain fails. */
siff_file *siff_open(const char *path, siff_error *err);
/* As siff_open; flags SIFF_OPEN_PREAD reads with positional reads only (no mapping). */
enum { SIFF_OPEN_PREAD = 1 };
siff_file *siff_open_ex(const char *path, unsigned flags, siff_error *err);
void siff_close(siff_file *f); /* NULL is a no-op */

void siff_get_info(const siff_file *f, siff_file_info *out);
/* Copies frames [start, start+n) of the index into out. */
int siff_get_frame_infos(const siff_file *f, uint64_t start, uint64_t n, siff_frame_info *out,
                         siff_error *err);

/* Header texts: copies min(cap, length) bytes (no NUL added). Length is in siff_file_info. */
int siff_read_nvfd(const siff_file *f, char *buf, uint64_t cap, siff_error *err);
int siff_read_roi_text(const siff_file *f, char *buf, uint64_t cap, siff_error *err);
/* A frame's description text; *length receives its full length. */
int siff_read_description(const siff_file *f, uint64_t frame, char *buf, uint64_t cap,
                          uint64_t *length, siff_error *err);

/* Numeric fields of frame descriptions, parsed locale-independently.
 * Fills out_f64, out_u64 and found[i] = 1/0 (each may be NULL; 2n values each,
 * laser then system, for SIFF_FIELD_EPOCH_BOTH). */
typedef enum {
    SIFF_FIELD_FRAME_TIMESTAMP = 0, /* frameTimestamps_sec, seconds (f64) */
    SIFF_FIELD_EPOCH_LASER = 1,     /* \nepoch, ns (u64) */
    SIFF_FIELD_EPOCH_SYSTEM = 2,    /* mostRecentSystemTimestamp_epoch, ns (u64) */
    SIFF_FIELD_SYNC_STAMPS = 3,     /* sync Stamps (u64) */
    SIFF_FIELD_HAS_APPENDED_TEXT = 4, /* found[i] = 1 when "\nAppended text = " occurs */
    SIFF_FIELD_EPOCH_BOTH = 5        /* EPOCH_LASER then EPOCH_SYSTEM in one pass: (2, n) */
} siff_field;
int siff_read_fields(const siff_file *f, const uint64_t *frames, uint64_t n, int field,
                     double *out_f64, uint64_t *out_u64, uint8_t *found, siff_error *err);

/* ---- The kernel: (frames) x (optional shifts) x (optional masks) -> one output kind ---- */
typedef enum {
    SIFF_OUT_IMAGE = 1,     /* counts. out_u16: (n,H,W), or out_u64: (H,W) summed when sum_frames */
    SIFF_OUT_MASK_SUMS = 2, /* counts per mask: out_u64 (R, n) */
    SIFF_OUT_MASK_FLIM = 3, /* out_u64 counts (R,n), out_tau_u64 sums of arrival bins (R,n),
                               optional out_re/out_im phasor sums (R,n) */
    SIFF_OUT_HISTOGRAM = 4, /* arrival histogram, bin = tau mod L. No masks: out_u64 (n, L), or
                               (L) when sum_frames. With masks: (R, n, L), or (R, L) summed */
    SIFF_OUT_FULL = 5,      /* per-pixel histograms: out_u16 (n, H, W, L) */
    SIFF_OUT_PIXEL_FLIM = 6 /* per frame: out_u16 counts (n,H,W), clamped at 65535 (see
                               out_clamped_pixels), and final values in out_lifetime (see below);
                               sum_frames: out_u64 counts (H,W), out_tau_u64 bin sums (H,W),
                               optional out_re/out_im phasor sums (H,W) */
} siff_output_kind;

typedef struct {
    int kind;
    const uint64_t *frames; /* n frame indices, any order, repeats allowed */
    uint64_t n_frames;
    const int64_t *shifts;  /* NULL, or 2*n (dy, dx) per requested frame */
    const uint8_t *masks;   /* NULL, or n_masks*mask_planes*H*W bytes (0/1); the i-th requested
                               frame uses plane i % mask_planes of each mask */
    uint64_t n_masks, mask_planes;
    int sum_frames;         /* accumulate over frames instead of one output per frame */
    int n_threads;          /* 0 or 1: the calling thread only */
    double phasor_period_bins; /* phasor period P in arrival bins: a photon in bin t (mod L)
                                  adds exp(2*pi*i*t/P); 0 means P = L (the histogram length) */
    /* caller-owned outputs; the needed element counts are given by siff_request_sizes */
    uint16_t *out_u16;
    uint64_t *out_u64;
    uint64_t *out_tau_u64;
    double *out_re, *out_im;
    uint64_t out_u16_len, out_u64_len, out_tau_len, out_phasor_len;
    /* SIFF_OUT_PIXEL_FLIM per frame: out_lifetime (n,H,W) doubles = bin sum / count -
       lifetime_offset (NaN without photons), or with lifetime_phasor (n,H,W,2) interleaved
       (g, s) = mean of exp(2*pi*i*(tau mod L)/P) times exp(-2*pi*i*lifetime_offset/P) (NaN
       without photons). out_lifetime_len counts doubles: out_u16_len, twice that for phasors */
    int lifetime_phasor;
    double lifetime_offset;
    double *out_lifetime;
    uint64_t out_lifetime_len;
    /* diagnostics filled by the call */
    uint64_t out_of_range_photons; /* raw photons with y >= H or x >= W (wrapped, counted) */
    uint64_t out_clamped_pixels;   /* per-frame uint16 counts above 65535, stored as 65535 */
} siff_request;

/* Executes req. Outputs are fully overwritten (every element is written or zeroed). Frames
 * are split over up to n_threads threads (POSIX; one thread elsewhere). */
int siff_run(const siff_file *f, siff_request *req, siff_error *err);

/* Element counts the outputs of req need (for its kind and sizes). */
int siff_request_sizes(const siff_file *f, const siff_request *req, uint64_t *u16_len,
                       uint64_t *u64_len, uint64_t *tau_len, uint64_t *phasor_len,
                       siff_error *err);

/* ---- Plane projections (projections.c): per-pixel sums of many frames in one pass ----
 * out is SIFF_PROJ_PLANES planes of H x W (the frames' shape; all frames must share it):
 * photon counts summed, their squares summed, their maximum, and the products of each pixel's
 * count with that of its right (y, x+1), lower (y+1, x), lower-right (y+1, x+1) and lower-left
 * (y+1, x-1) neighbour summed (0 where the neighbour is outside the frame). Frames are
 * registered first (shifts: NULL or 2*n (dy, dx), as siff_request.shifts). The call ADDS to
 * out (the maximum plane keeps the larger value), so a plane can be summed a chunk of frames
 * at a time; zero out before the first chunk. Counts are exact: raw frames are counted in 32
 * bits (not clamped at 65535); sums are 64-bit. On failure out holds part of the frames.
 * Frames are split over up to n_threads threads; *out_of_range (may be NULL) receives the
 * raw photons with y >= H or x >= W (wrapped, as siff_run does). */
enum {
    SIFF_PROJ_SUM = 0, SIFF_PROJ_SUM_SQ = 1, SIFF_PROJ_MAX = 2, SIFF_PROJ_RIGHT = 3,
    SIFF_PROJ_DOWN = 4, SIFF_PROJ_DOWN_RIGHT = 5, SIFF_PROJ_DOWN_LEFT = 6, SIFF_PROJ_PLANES = 7
};
int siff_projection_sums(const siff_file *f, const uint64_t *frames, uint64_t n_frames,
                         const int64_t *shifts, int n_threads, uint64_t *out, uint64_t out_len,
                         uint64_t *out_of_range, siff_error *err);

#endif /* SIFF_H */
