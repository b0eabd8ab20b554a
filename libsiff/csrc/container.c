/* container.c - TIFF/BigTIFF header, the ScanImage header block, and the IFD walk that
 * builds the frame index once at open. Every offset and count is checked against the
 * file size before it is used. */
#include "siff_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SI_MAGIC 117637889u
#define MAX_TAGS 4096u

enum { TAG_WIDTH = 256, TAG_HEIGHT = 257, TAG_BITS = 258, TAG_COMPRESSION = 259,
       TAG_PHOTOMETRIC = 262, TAG_DESCRIPTION = 270, TAG_STRIP_OFFSETS = 273,
       TAG_ORIENTATION = 274, TAG_SPP = 277, TAG_ROWS_PER_STRIP = 278,
       TAG_STRIP_BYTES = 279, TAG_XRES = 282, TAG_YRES = 283, TAG_RES_UNIT = 296,
       TAG_SOFTWARE = 305, TAG_ARTIST = 315, TAG_SAMPLE_FORMAT = 339, TAG_SIFF = 907 };

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static unsigned type_size(unsigned type) {
    switch (type) {
    case 1: case 2: case 6: case 7: return 1;
    case 3: case 8: return 2;
    case 4: case 9: case 11: case 13: return 4;
    case 5: case 10: case 12: case 16: case 17: case 18: return 8;
    default: return 0; /* unknown type: the entry is ignored, as TIFF requires */
    }
}

/* ---- a small open-addressing set of IFD offsets, to detect loops ---- */
typedef struct { uint64_t *slots; uint64_t cap, used; } offset_set;

static int set_insert(offset_set *s, uint64_t key) { /* 1 inserted, 0 present, -1 nomem */
    if ((s->used + 1) * 2 > s->cap) {
        uint64_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *ns = calloc((size_t)ncap, sizeof *ns);
        if (!ns) return -1;
        for (uint64_t i = 0; i < s->cap; i++) {
            uint64_t k = s->slots[i];
            if (!k) continue;
            uint64_t h = (k * 0x9E3779B97F4A7C15ull) & (ncap - 1);
            while (ns[h]) h = (h + 1) & (ncap - 1);
            ns[h] = k;
        }
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slots[h]) {
        if (s->slots[h] == key) return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->slots[h] = key; /* keys are never 0: IFD offsets lie after the header */
    s->used++;
    return 1;
}

/* The raw bytes of one IFD: its entries and the next-IFD pointer after them. Small IFDs
 * (up to 64 entries, every ScanImage frame) come in one read into the stack buffer. */
typedef struct {
    uint8_t stack[8 + 64 * 20 + 8];
    uint8_t *heap;
    const uint8_t *entries;
    uint64_t n;
} ifd_bytes;

static int read_ifd_bytes(const siff_file *f, uint64_t off, int64_t index, ifd_bytes *b,
                          siff_error *err) {
    const int big = f->info.bigtiff;
    const uint64_t count_size = big ? 8 : 2, entry_size = big ? 20 : 12, next_size = big ? 8 : 4;
    b->heap = NULL;
    if (!siff_fits(off, count_size, f->io.size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu lies past the end of the file",
                         (long long)index, (unsigned long long)off);
    uint64_t guess = f->io.size - off < sizeof b->stack ? f->io.size - off : sizeof b->stack;
    int rc = siff_io_read(&f->io, off, b->stack, guess, err);
    if (rc) return rc;
    b->n = big ? rd64(b->stack) : rd16(b->stack);
    if (b->n == 0 || b->n > MAX_TAGS)
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu declares %llu tags (corrupt IFD)",
                         (long long)index, (unsigned long long)off, (unsigned long long)b->n);
    const uint64_t body = b->n * entry_size + next_size;
    if (!siff_fits(off + count_size, body, f->io.size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu is cut off by the end of the file",
                         (long long)index, (unsigned long long)off);
    b->entries = b->stack + count_size;
    if (count_size + body > guess) {
        b->heap = malloc((size_t)body);
        if (!b->heap) return siff_fail(err, SIFF_ERR_NOMEM, index, (int64_t)off, "out of memory");
        rc = siff_io_read(&f->io, off + count_size, b->heap, body, err);
        if (rc) {
            free(b->heap);
            b->heap = NULL;
            return rc;
        }
        b->entries = b->heap;
    }
    return SIFF_OK;
}

/* Bits of the tags every frame needs, as decode_entries reports them. */
enum { HAVE_WIDTH = 1, HAVE_HEIGHT = 2, HAVE_STRIPS = 4, HAVE_STRIP_BYTES = 8 };

/* Fills fi from the entries; returns the HAVE_* bits of the required tags found. */
static uint32_t decode_entries(int big, const ifd_bytes *b, siff_frame_info *fi,
                               uint32_t *strip_count) {
    const uint64_t entry_size = big ? 20 : 12;
    uint32_t have = 0;
    for (uint64_t i = 0; i < b->n; i++) {
        const uint8_t *e = b->entries + i * entry_size;
        const unsigned tag = rd16(e), ts = type_size(rd16(e + 2));
        if (ts == 0) continue; /* unknown field type: ignore the entry */
        const uint64_t count = big ? rd64(e + 4) : rd32(e + 4);
        const uint8_t *vf = e + (big ? 12 : 8);
        const uint64_t raw = big ? rd64(vf) : rd32(vf);
        uint64_t value = raw; /* inline scalar, read with its own width */
        if (ts == 1) value = vf[0];
        else if (ts == 2) value = rd16(vf);
        else if (ts == 4) value = rd32(vf);
        switch (tag) {
        case TAG_WIDTH: fi->width = value; have |= HAVE_WIDTH; break;
        case TAG_HEIGHT: fi->height = value; have |= HAVE_HEIGHT; break;
        case TAG_BITS: fi->bits_per_sample = value; fi->present_mask |= SIFF_HAS_BITS; break;
        case TAG_COMPRESSION: fi->compression = value; fi->present_mask |= SIFF_HAS_COMPRESSION; break;
        case TAG_PHOTOMETRIC: fi->photometric = value; fi->present_mask |= SIFF_HAS_PHOTOMETRIC; break;
        case TAG_DESCRIPTION: fi->description_offset = raw; fi->present_mask |= SIFF_HAS_DESCRIPTION; break;
        case TAG_STRIP_OFFSETS:
            fi->strip_offset = value;
            have |= HAVE_STRIPS;
            *strip_count = count > 0xffffffffu ? 0xffffffffu : (uint32_t)count;
            break;
        case TAG_ORIENTATION: fi->orientation = value; fi->present_mask |= SIFF_HAS_ORIENTATION; break;
        case TAG_SPP: fi->samples_per_pixel = value; fi->present_mask |= SIFF_HAS_SPP; break;
        case TAG_ROWS_PER_STRIP: fi->rows_per_strip = value; fi->present_mask |= SIFF_HAS_ROWS_PER_STRIP; break;
        case TAG_STRIP_BYTES: fi->strip_byte_count = value; have |= HAVE_STRIP_BYTES; break;
        case TAG_XRES: fi->x_resolution = raw; fi->present_mask |= SIFF_HAS_XRES; break;
        case TAG_YRES: fi->y_resolution = raw; fi->present_mask |= SIFF_HAS_YRES; break;
        case TAG_RES_UNIT: fi->resolution_unit = value; fi->present_mask |= SIFF_HAS_RES_UNIT; break;
        case TAG_SOFTWARE: fi->software_offset = raw; fi->present_mask |= SIFF_HAS_SOFTWARE; break;
        case TAG_ARTIST: fi->artist_offset = raw; fi->present_mask |= SIFF_HAS_ARTIST; break;
        case TAG_SAMPLE_FORMAT: fi->sample_format = value; fi->present_mask |= SIFF_HAS_SAMPLE_FORMAT; break;
        case TAG_SIFF: fi->siff_tag = (int64_t)value; break;
        default: break; /* unknown tags are ignored, as TIFF requires */
        }
    }
    return have;
}

/* The required tags are present, the size is within the limits (siff.h) and the Siff tag
 * is known. */
static int check_frame_tags(const siff_frame_info *fi, uint32_t have, int64_t index,
                            siff_error *err) {
    static const char *const names[] = {"ImageWidth (256)", "ImageLength (257)",
                                        "StripOffsets (273)", "StripByteCounts (279)"};
    for (int bit = 0; bit < 4; bit++)
        if (!(have & (1u << bit)))
            return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)fi->ifd_offset,
                             "IFD of frame %lld at offset %llu lacks the tag %s",
                             (long long)index, (unsigned long long)fi->ifd_offset, names[bit]);
    if (fi->width == 0 || fi->height == 0 || fi->width > SIFF_MAX_DIM ||
        fi->height > SIFF_MAX_DIM || fi->width * fi->height > SIFF_MAX_FRAME_PIXELS)
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)fi->ifd_offset,
                         "frame %lld claims an impossible size %llu x %llu (at most %d x %d "
                         "and %d pixels)",
                         (long long)index, (unsigned long long)fi->height,
                         (unsigned long long)fi->width, SIFF_MAX_DIM, SIFF_MAX_DIM,
                         SIFF_MAX_FRAME_PIXELS);
    if (fi->siff_tag != -1 && fi->siff_tag != 0 && fi->siff_tag != 1)
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)fi->ifd_offset,
                         "frame %lld has an unknown Siff encoding tag value %lld",
                         (long long)index, (long long)fi->siff_tag);
    return SIFF_OK;
}

/* Where the data lies and how long the description is (docs/format.md §5): flags the
 * frame when either is inconsistent with the file. A compressed or plain TIFF frame must
 * hold its count image (2 bytes a pixel) inside the file. */
static void locate_frame_data(const siff_file *f, siff_frame_info *fi, uint32_t strip_count) {
    const uint64_t pixels = fi->width * fi->height;
    uint64_t data_start = fi->strip_offset;
    int data_ok = strip_count == 1;
    if (strip_count != 1) fi->flags |= SIFF_FRAME_MULTI_STRIP;
    if (fi->siff_tag == 1) {
        if (fi->strip_offset < 2 * pixels) data_ok = 0;
        else data_start = fi->strip_offset - 2 * pixels;
    }
    if (fi->siff_tag == -1 && fi->strip_byte_count < 2 * pixels) data_ok = 0;
    if (!siff_fits(fi->strip_offset, fi->strip_byte_count, f->io.size)) data_ok = 0;
    if (!data_ok) fi->flags |= SIFF_FRAME_BAD_DATA;
    if ((fi->present_mask & SIFF_HAS_DESCRIPTION) && fi->description_offset <= data_start &&
        data_start - fi->description_offset <= SIFF_MAX_DESCRIPTION && data_start <= f->io.size)
        fi->description_length = data_start - fi->description_offset;
    else
        fi->flags |= SIFF_FRAME_BAD_DESCRIPTION;
}

/* Reads and decodes the IFD at off into *fi; *next gets the next IFD offset.
 * Returns SIFF_ERR_TRUNCATED when the IFD itself runs past the end of the file. */
static int parse_ifd(const siff_file *f, uint64_t off, int64_t index, siff_frame_info *fi,
                     uint32_t *strip_count, uint64_t *next, siff_error *err) {
    ifd_bytes b;
    int rc = read_ifd_bytes(f, off, index, &b, err);
    if (rc) return rc;
    memset(fi, 0, sizeof *fi);
    fi->ifd_offset = off;
    fi->siff_tag = -1;
    *strip_count = 0;
    const uint32_t have = decode_entries(f->info.bigtiff, &b, fi, strip_count);
    const uint8_t *after = b.entries + b.n * (f->info.bigtiff ? 20 : 12);
    *next = f->info.bigtiff ? rd64(after) : rd32(after);
    free(b.heap);
    rc = check_frame_tags(fi, have, index, err);
    if (rc) return rc;
    locate_frame_data(f, fi, *strip_count);
    return SIFF_OK;
}

static int read_header(siff_file *f, siff_error *err) {
    uint8_t h[32];
    if (f->io.size < 24)
        return siff_fail(err, SIFF_ERR_FORMAT, -1, 0,
                         "file is %llu bytes long, too short for a ScanImage TIFF header",
                         (unsigned long long)f->io.size);
    uint64_t hl = f->io.size < 32 ? 24 : 32;
    int rc = siff_io_read(&f->io, 0, h, hl, err);
    if (rc) return rc;
    if (h[0] == 'M' && h[1] == 'M')
        return siff_fail(err, SIFF_ERR_FORMAT, -1, 0,
                         "big-endian TIFF ('MM') is not a ScanImage-FLIM file");
    if (h[0] != 'I' || h[1] != 'I')
        return siff_fail(err, SIFF_ERR_FORMAT, -1, 0, "not a TIFF file (no 'II' byte order mark)");
    unsigned version = rd16(h + 2);
    const uint8_t *si;
    if (version == 43) {
        if (hl < 32) return siff_fail(err, SIFF_ERR_FORMAT, -1, 0, "BigTIFF header is cut off");
        if (rd16(h + 4) != 8)
            return siff_fail(err, SIFF_ERR_FORMAT, -1, 4, "BigTIFF offset size is %u, not 8",
                             rd16(h + 4));
        f->info.bigtiff = 1;
        f->info.first_ifd = rd64(h + 8);
        si = h + 16;
    } else if (version == 42) {
        f->info.bigtiff = 0;
        f->info.first_ifd = rd32(h + 4);
        si = h + 8;
    } else {
        return siff_fail(err, SIFF_ERR_FORMAT, -1, 2, "unknown TIFF version %u (expected 42 or 43)",
                         version);
    }
    if (rd32(si) != SI_MAGIC)
        return siff_fail(err, SIFF_ERR_FORMAT, -1, (int64_t)(si - h),
                         "not a ScanImage TIFF: the ScanImage magic number is missing");
    f->info.si_version = rd32(si + 4);
    if (f->info.si_version != 3 && f->info.si_version != 4)
        return siff_fail(err, SIFF_ERR_FORMAT, -1, (int64_t)(si - h) + 4,
                         "unsupported ScanImage header version %u (expected 3 or 4)",
                         f->info.si_version);
    f->info.nvfd_length = rd32(si + 8);
    f->info.roi_length = rd32(si + 12);
    uint64_t text_start = f->info.bigtiff ? 32 : 24;
    if (!siff_fits(text_start, f->info.nvfd_length + f->info.roi_length, f->io.size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, -1, (int64_t)text_start,
                         "the file ends inside the ScanImage header text (%llu + %llu bytes "
                         "declared, file is %llu bytes)",
                         (unsigned long long)f->info.nvfd_length,
                         (unsigned long long)f->info.roi_length, (unsigned long long)f->io.size);
    return SIFF_OK;
}

/* The value of the header line "KEY = value": the key must start a line (ImParams reads
 * the same full key, so both agree whatever else the text holds). */
static int header_value(const char *text, uint64_t len, const char *key, uint64_t *out) {
    char needle[96];
    int nl = snprintf(needle, sizeof needle, "\n%s = ", key);
    if (nl <= 0 || (size_t)nl >= sizeof needle) return 0;
    const char *v;
    uint64_t vl;
    if (len >= (uint64_t)nl - 1 && memcmp(text, needle + 1, (size_t)nl - 1) == 0)
        siff_text_find_value(text, len, needle + 1, &v, &vl);
    else if (!siff_text_find_value(text, len, needle, &v, &vl))
        return 0;
    return siff_parse_u64(v, vl, out);
}

static void read_header_numbers(siff_file *f) {
    f->info.tau_bins = -1;
    f->info.tau_bins_declared = -1;
    f->info.bin_resolution = -1;
    uint64_t len = f->info.nvfd_length;
    if (len == 0) return;
    char *text = malloc((size_t)len);
    if (!text) return;
    if (siff_read_nvfd(f, text, len, NULL) == SIFF_OK) {
        uint64_t x;
        if (header_value(text, len, "SI.hScan2D.hAcq.Tau_bins", &x) && x <= INT64_MAX) {
            f->info.tau_bins_declared = (int64_t)x;
            if (x > 0 && x <= SIFF_MAX_TAU_BINS) f->info.tau_bins = (int64_t)x;
        }
        if (header_value(text, len, "SI.hScan2D.hAcq.binResolution", &x) && x < 32)
            f->info.bin_resolution = (int64_t)x;
    }
    free(text);
}

/* Appends one parsed IFD to the frame index. */
static int index_frame(siff_file *f, uint64_t *cap, const siff_frame_info *fi, siff_error *err) {
    const uint64_t n = f->info.num_frames;
    if (n == *cap) {
        uint64_t ncap = *cap ? *cap * 2 : 256;
        siff_frame *nf = realloc(f->frames, (size_t)ncap * sizeof *nf);
        if (!nf) return siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
        f->frames = nf;
        *cap = ncap;
    }
    siff_frame *fr = &f->frames[n];
    fr->ifd_offset = fi->ifd_offset;
    fr->description_offset = fi->description_offset;
    fr->description_length = (uint32_t)fi->description_length;
    fr->strip_offset = fi->strip_offset;
    fr->strip_bytes = fi->strip_byte_count;
    fr->width = (uint32_t)fi->width;
    fr->height = (uint32_t)fi->height;
    fr->siff_tag = (int8_t)fi->siff_tag;
    fr->flags = (uint8_t)fi->flags;
    fr->counts_match = 0;
    f->info.num_frames = n + 1;
    return SIFF_OK;
}

/* Ends the index at frame n for the reason damage. */
static int stop_at(siff_file *f, uint64_t n, int damage) {
    f->info.damaged_frame = n;
    f->info.damage = damage;
    return SIFF_OK;
}

/* Follows the IFD chain. A chain that leads past the end, an IFD or frame data cut off by
 * the end (a file still being written) and, after the first frame, a corrupt IFD end the
 * index with the complete frames before (as libtiff does); a loop, a first IFD that is
 * corrupt or running out of memory fail. */
static int walk_ifds(siff_file *f, siff_error *err) {
    /* A chain whose offsets keep increasing cannot loop: the set of visited IFDs is only
     * built (from the index so far) once an offset goes back. */
    offset_set seen = {0};
    int use_set = 0;
    uint64_t prev = 0;
    uint64_t cap = 0;
    uint64_t off = f->info.first_ifd;
    const uint64_t header_end = (f->info.bigtiff ? 32 : 24);
    int rc = SIFF_OK;
    f->info.damaged_frame = UINT64_MAX;
    f->info.damage = SIFF_DAMAGE_NONE;
    f->info.num_frames = 0;
    while (off != 0 && rc == SIFF_OK) {
        const uint64_t n = f->info.num_frames;
        if (off >= f->io.size) { /* the chain leads past the end: a truncated file */
            rc = stop_at(f, n, SIFF_DAMAGE_TRUNCATED);
            break;
        }
        siff_frame_info fi;
        uint32_t strips;
        uint64_t next = 0;
        siff_error local;
        siff_clear_error(&local);
        int prc;
        if (off < header_end)
            prc = siff_fail(&local, SIFF_ERR_FORMAT, (int64_t)n, (int64_t)off,
                            "IFD of frame %llu points inside the file header (offset %llu)",
                            (unsigned long long)n, (unsigned long long)off);
        else {
            int ins = 1;
            if (!use_set && off <= prev) {
                use_set = 1;
                for (uint64_t i = 0; i < n && ins > 0; i++)
                    ins = set_insert(&seen, f->frames[i].ifd_offset) < 0 ? -1 : 1;
            }
            prev = off;
            if (use_set && ins > 0) ins = set_insert(&seen, off);
            if (ins < 0) {
                rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
                break;
            }
            if (ins == 0) {
                rc = siff_fail(err, SIFF_ERR_FORMAT, (int64_t)n, (int64_t)off,
                               "the IFD chain loops: frame %llu points back to the IFD at "
                               "offset %llu",
                               (unsigned long long)n, (unsigned long long)off);
                break;
            }
            prc = parse_ifd(f, off, (int64_t)n, &fi, &strips, &next, &local);
        }
        if (prc == SIFF_ERR_TRUNCATED) { /* last IFD cut off: keep the complete frames */
            rc = stop_at(f, n, SIFF_DAMAGE_TRUNCATED);
            break;
        }
        if (prc == SIFF_ERR_FORMAT && n > 0) { /* a bad IFD: keep the frames before it */
            memcpy(f->info.damage_detail, local.message, sizeof f->info.damage_detail);
            rc = stop_at(f, n, SIFF_DAMAGE_BAD_IFD);
            break;
        }
        if (prc) {
            if (err) *err = local;
            rc = prc;
            break;
        }
        const int last = (next == 0 || next >= f->io.size);
        if ((fi.flags & SIFF_FRAME_BAD_DATA) && last &&
            !siff_fits(fi.strip_offset, fi.strip_byte_count, f->io.size)) {
            rc = stop_at(f, n, SIFF_DAMAGE_TRUNCATED); /* data cut off by the end of the file */
            break;
        }
        rc = index_frame(f, &cap, &fi, err);
        off = next;
    }
    free(seen.slots);
    return rc;
}

siff_file *siff_open(const char *path, siff_error *err) { return siff_open_ex(path, 0, err); }

siff_file *siff_open_ex(const char *path, unsigned flags, siff_error *err) {
    siff_clear_error(err);
    if (!path) {
        siff_fail(err, SIFF_ERR_ARG, -1, -1, "no path given");
        return NULL;
    }
    siff_file *f = calloc(1, sizeof *f);
    if (!f) {
        siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory");
        return NULL;
    }
#ifndef _WIN32
    f->io.fd = -1;
#endif
    int rc = siff_io_open(&f->io, path, flags, err);
    if (rc == SIFF_OK) {
        f->info.file_size = f->io.size;
        rc = read_header(f, err);
    }
    if (rc == SIFF_OK) {
        read_header_numbers(f);
        rc = walk_ifds(f, err);
    }
    if (rc != SIFF_OK) {
        siff_close(f);
        return NULL;
    }
    f->info.uniform_shape = 1;
    if (f->info.num_frames) {
        f->info.height = f->frames[0].height;
        f->info.width = f->frames[0].width;
        for (uint64_t i = 1; i < f->info.num_frames; i++)
            if (f->frames[i].height != f->info.height || f->frames[i].width != f->info.width) {
                f->info.uniform_shape = 0;
                break;
            }
    }
    return f;
}

void siff_close(siff_file *f) {
    if (!f) return;
    siff_io_close(&f->io);
    free(f->frames);
    free(f);
}

int siff_check_index(const siff_file *f, uint64_t frame, siff_error *err) {
    if (frame < f->info.num_frames) return SIFF_OK;
    if (frame == f->info.damaged_frame)
        return siff_fail(err, SIFF_ERR_INDEX, (int64_t)frame, -1,
                         "frame %llu was left out of the index: %s (the file has %llu complete "
                         "frames)",
                         (unsigned long long)frame,
                         f->info.damage == SIFF_DAMAGE_BAD_IFD ? "its IFD is corrupt"
                                                               : "the file ends inside it",
                         (unsigned long long)f->info.num_frames);
    return siff_fail(err, SIFF_ERR_INDEX, (int64_t)frame, -1,
                     "frame %llu does not exist (the file has %llu frames)",
                     (unsigned long long)frame, (unsigned long long)f->info.num_frames);
}

void siff_get_info(const siff_file *f, siff_file_info *out) {
    if (f && out) *out = f->info;
}

int siff_get_frame_infos(const siff_file *f, uint64_t start, uint64_t n, siff_frame_info *out,
                         siff_error *err) {
    siff_clear_error(err);
    if (!f || (!out && n)) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    if (!siff_fits(start, n, f->info.num_frames))
        return siff_fail(err, SIFF_ERR_INDEX, (int64_t)start, -1,
                         "frames %llu..%llu requested, the file has %llu",
                         (unsigned long long)start, (unsigned long long)(start + n),
                         (unsigned long long)f->info.num_frames);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t strips;
        uint64_t next;
        int rc = parse_ifd(f, f->frames[start + i].ifd_offset, (int64_t)(start + i), &out[i],
                           &strips, &next, err);
        if (rc) return rc;
    }
    return SIFF_OK;
}

int siff_read_nvfd(const siff_file *f, char *buf, uint64_t cap, siff_error *err) {
    siff_clear_error(err);
    if (!f || (!buf && cap)) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    uint64_t len = f->info.nvfd_length < cap ? f->info.nvfd_length : cap;
    return siff_io_read(&f->io, f->info.bigtiff ? 32 : 24, buf, len, err);
}

int siff_read_roi_text(const siff_file *f, char *buf, uint64_t cap, siff_error *err) {
    siff_clear_error(err);
    if (!f || (!buf && cap)) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    uint64_t len = f->info.roi_length < cap ? f->info.roi_length : cap;
    return siff_io_read(&f->io, (f->info.bigtiff ? 32 : 24) + f->info.nvfd_length, buf, len, err);
}

int siff_read_description(const siff_file *f, uint64_t frame, char *buf, uint64_t cap,
                          uint64_t *length, siff_error *err) {
    siff_clear_error(err);
    if (!f || (!buf && cap)) return siff_fail(err, SIFF_ERR_ARG, -1, -1, "NULL argument");
    int rc = siff_check_index(f, frame, err);
    if (rc) return rc;
    const siff_frame *fr = &f->frames[frame];
    if (fr->flags & SIFF_FRAME_BAD_DESCRIPTION)
        return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->ifd_offset,
                         "frame %llu has no readable description (its offsets are inconsistent)",
                         (unsigned long long)frame);
    if (length) *length = fr->description_length;
    uint64_t len = fr->description_length < cap ? fr->description_length : cap;
    rc = siff_io_read(&f->io, fr->description_offset, buf, len, err);
    if (rc && err) err->frame = (int64_t)frame;
    return rc;
}
