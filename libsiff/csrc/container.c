/* container.c - TIFF/BigTIFF header, the ScanImage header block, and the IFD walk that
 * builds the frame index once at open. Every offset and count is checked against the
 * file size before it is used. */
#include "siff_internal.h"

#include <stdlib.h>
#include <string.h>

#define SI_MAGIC 117637889u
#define MAX_TAGS 4096u
#define MAX_DIM (1u << 20)
#define MAX_DESCRIPTION (64u << 20)

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

/* Reads and decodes the IFD at off into *fi; *next gets the next IFD offset.
 * Returns SIFF_ERR_TRUNCATED when the IFD itself runs past the end of the file. */
static int parse_ifd(const siff_file *f, uint64_t off, int64_t index, siff_frame_info *fi,
                     uint32_t *strip_count, uint64_t *next, siff_error *err) {
    const int big = f->info.bigtiff;
    const uint64_t count_size = big ? 8 : 2, entry_size = big ? 20 : 12, next_size = big ? 8 : 4;
    /* One read for the common case: the count, up to 64 entries and the next pointer. */
    uint8_t stackbuf[8 + 64 * 20 + 8];
    if (!siff_fits(off, count_size, f->io.size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu lies past the end of the file",
                         (long long)index, (unsigned long long)off);
    uint64_t guess = f->io.size - off < sizeof stackbuf ? f->io.size - off : sizeof stackbuf;
    int rc = siff_io_read(&f->io, off, stackbuf, guess, err);
    if (rc) return rc;
    uint64_t n = big ? rd64(stackbuf) : rd16(stackbuf);
    if (n == 0 || n > MAX_TAGS)
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu declares %llu tags (corrupt IFD)",
                         (long long)index, (unsigned long long)off, (unsigned long long)n);
    uint64_t body = n * entry_size + next_size;
    if (!siff_fits(off + count_size, body, f->io.size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, index, (int64_t)off,
                         "IFD of frame %lld at offset %llu is cut off by the end of the file",
                         (long long)index, (unsigned long long)off);
    uint8_t *buf = stackbuf + count_size;
    uint8_t *heap = NULL;
    if (count_size + body > guess) {
        heap = malloc((size_t)body);
        if (!heap) return siff_fail(err, SIFF_ERR_NOMEM, index, (int64_t)off, "out of memory");
        rc = siff_io_read(&f->io, off + count_size, heap, body, err);
        if (rc) {
            free(heap);
            return rc;
        }
        buf = heap;
    }
    memset(fi, 0, sizeof *fi);
    fi->ifd_offset = off;
    fi->siff_tag = -1;
    *strip_count = 0;
    uint32_t have = 0; /* bit 0 width, 1 height, 2 strip offsets, 3 strip bytes */
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = buf + i * entry_size;
        unsigned tag = rd16(e), type = rd16(e + 2);
        uint64_t count = big ? rd64(e + 4) : rd32(e + 4);
        const uint8_t *vf = e + (big ? 12 : 8);
        uint64_t raw = big ? rd64(vf) : rd32(vf);
        unsigned ts = type_size(type);
        uint64_t value = raw; /* inline scalar, read with its own width */
        if (ts == 1) value = vf[0];
        else if (ts == 2) value = rd16(vf);
        else if (ts == 4) value = rd32(vf);
        else if (ts == 8) value = big ? rd64(vf) : raw;
        if (ts == 0) continue; /* unknown field type: ignore the entry */
        switch (tag) {
        case TAG_WIDTH: fi->width = value; have |= 1; break;
        case TAG_HEIGHT: fi->height = value; have |= 2; break;
        case TAG_BITS: fi->bits_per_sample = value; fi->present_mask |= SIFF_HAS_BITS; break;
        case TAG_COMPRESSION: fi->compression = value; fi->present_mask |= SIFF_HAS_COMPRESSION; break;
        case TAG_PHOTOMETRIC: fi->photometric = value; fi->present_mask |= SIFF_HAS_PHOTOMETRIC; break;
        case TAG_DESCRIPTION: fi->description_offset = raw; fi->present_mask |= SIFF_HAS_DESCRIPTION; break;
        case TAG_STRIP_OFFSETS:
            fi->strip_offset = value; have |= 4;
            *strip_count = count > 0xffffffffu ? 0xffffffffu : (uint32_t)count;
            break;
        case TAG_ORIENTATION: fi->orientation = value; fi->present_mask |= SIFF_HAS_ORIENTATION; break;
        case TAG_SPP: fi->samples_per_pixel = value; fi->present_mask |= SIFF_HAS_SPP; break;
        case TAG_ROWS_PER_STRIP: fi->rows_per_strip = value; fi->present_mask |= SIFF_HAS_ROWS_PER_STRIP; break;
        case TAG_STRIP_BYTES: fi->strip_byte_count = value; have |= 8; break;
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
    *next = big ? rd64(buf + n * entry_size) : rd32(buf + n * entry_size);
    free(heap);

    static const char *const names[] = {"ImageWidth (256)", "ImageLength (257)",
                                        "StripOffsets (273)", "StripByteCounts (279)"};
    for (int b = 0; b < 4; b++)
        if (!(have & (1u << b)))
            return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)off,
                             "IFD of frame %lld at offset %llu lacks the tag %s",
                             (long long)index, (unsigned long long)off, names[b]);
    if (fi->width == 0 || fi->height == 0 || fi->width > MAX_DIM || fi->height > MAX_DIM ||
        fi->width * fi->height > ((uint64_t)1 << 31))
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)off,
                         "frame %lld has an impossible size %llu x %llu", (long long)index,
                         (unsigned long long)fi->height, (unsigned long long)fi->width);
    if (fi->siff_tag != -1 && fi->siff_tag != 0 && fi->siff_tag != 1)
        return siff_fail(err, SIFF_ERR_FORMAT, index, (int64_t)off,
                         "frame %lld has an unknown Siff encoding tag value %lld",
                         (long long)index, (long long)fi->siff_tag);

    /* Where the data lies and how long the description is (docs/format.md §5). */
    uint64_t pixels = fi->width * fi->height;
    uint64_t data_start = fi->strip_offset;
    int data_ok = 1;
    if (*strip_count != 1) {
        fi->flags |= SIFF_FRAME_MULTI_STRIP;
        data_ok = 0;
    }
    if (fi->siff_tag == 1) {
        if (fi->strip_offset < 2 * pixels) data_ok = 0;
        else data_start = fi->strip_offset - 2 * pixels;
    }
    if (fi->siff_tag == -1 && fi->strip_byte_count < 2 * pixels) data_ok = 0;
    if (!siff_fits(fi->strip_offset, fi->strip_byte_count, f->io.size)) data_ok = 0;
    if (!data_ok) fi->flags |= SIFF_FRAME_BAD_DATA;
    if ((fi->present_mask & SIFF_HAS_DESCRIPTION) && fi->description_offset <= data_start &&
        data_start - fi->description_offset <= MAX_DESCRIPTION && data_start <= f->io.size)
        fi->description_length = data_start - fi->description_offset;
    else
        fi->flags |= SIFF_FRAME_BAD_DESCRIPTION;
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

static void read_header_numbers(siff_file *f) {
    f->info.tau_bins = -1;
    f->info.bin_resolution = -1;
    uint64_t len = f->info.nvfd_length;
    if (len == 0) return;
    char *text = malloc((size_t)len);
    if (!text) return;
    if (siff_read_nvfd(f, text, len, NULL) == SIFF_OK) {
        const char *v;
        uint64_t vl, x;
        if (siff_text_find_value(text, len, "Tau_bins = ", &v, &vl) && siff_parse_u64(v, vl, &x) &&
            x > 0 && x < (1u << 24))
            f->info.tau_bins = (int64_t)x;
        if (siff_text_find_value(text, len, "binResolution = ", &v, &vl) &&
            siff_parse_u64(v, vl, &x) && x < 32)
            f->info.bin_resolution = (int64_t)x;
    }
    free(text);
}

static int walk_ifds(siff_file *f, siff_error *err) {
    offset_set seen = {0};
    uint64_t cap = 0, n = 0;
    uint64_t off = f->info.first_ifd;
    uint64_t header_end = (f->info.bigtiff ? 32 : 24);
    int rc = SIFF_OK;
    f->info.damaged_frame = UINT64_MAX;
    while (off != 0) {
        if (off >= f->io.size) { /* the chain leads past the end: a truncated file */
            f->info.damaged_frame = n;
            break;
        }
        if (off < header_end) {
            rc = siff_fail(err, SIFF_ERR_FORMAT, (int64_t)n, (int64_t)off,
                           "IFD of frame %llu points inside the file header (offset %llu)",
                           (unsigned long long)n, (unsigned long long)off);
            break;
        }
        int ins = set_insert(&seen, off);
        if (ins < 0) { rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory"); break; }
        if (ins == 0) {
            rc = siff_fail(err, SIFF_ERR_FORMAT, (int64_t)n, (int64_t)off,
                           "the IFD chain loops: frame %llu points back to the IFD at offset %llu",
                           (unsigned long long)n, (unsigned long long)off);
            break;
        }
        siff_frame_info fi;
        uint32_t strips;
        uint64_t next;
        siff_error local;
        siff_clear_error(&local);
        int prc = parse_ifd(f, off, (int64_t)n, &fi, &strips, &next, &local);
        if (prc == SIFF_ERR_TRUNCATED) { /* last IFD cut off: keep the complete frames */
            f->info.damaged_frame = n;
            break;
        }
        if (prc) {
            if (err) *err = local;
            rc = prc;
            break;
        }
        int last = (next == 0 || next >= f->io.size);
        if ((fi.flags & SIFF_FRAME_BAD_DATA) && last &&
            !siff_fits(fi.strip_offset, fi.strip_byte_count, f->io.size)) {
            f->info.damaged_frame = n; /* data cut off by the end of the file */
            break;
        }
        if (n == cap) {
            uint64_t ncap = cap ? cap * 2 : 256;
            siff_frame *nf = realloc(f->frames, (size_t)ncap * sizeof *nf);
            if (!nf) { rc = siff_fail(err, SIFF_ERR_NOMEM, -1, -1, "out of memory"); break; }
            f->frames = nf;
            cap = ncap;
        }
        siff_frame *fr = &f->frames[n];
        fr->ifd_offset = off;
        fr->description_offset = fi.description_offset;
        fr->description_length = (uint32_t)fi.description_length;
        fr->strip_offset = fi.strip_offset;
        fr->strip_bytes = fi.strip_byte_count;
        fr->width = (uint32_t)fi.width;
        fr->height = (uint32_t)fi.height;
        fr->siff_tag = (int8_t)fi.siff_tag;
        fr->flags = (uint8_t)fi.flags;
        n++;
        off = next;
    }
    free(seen.slots);
    f->info.num_frames = n;
    return rc;
}

siff_file *siff_open(const char *path, siff_error *err) {
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
    int rc = siff_io_open(&f->io, path, err);
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
    if (frame >= f->info.num_frames)
        return siff_fail(err, SIFF_ERR_INDEX, (int64_t)frame, -1,
                         "frame %llu does not exist (the file has %llu frames)",
                         (unsigned long long)frame, (unsigned long long)f->info.num_frames);
    const siff_frame *fr = &f->frames[frame];
    if (fr->flags & SIFF_FRAME_BAD_DESCRIPTION)
        return siff_fail(err, SIFF_ERR_FORMAT, (int64_t)frame, (int64_t)fr->ifd_offset,
                         "frame %llu has no readable description (its offsets are inconsistent)",
                         (unsigned long long)frame);
    if (length) *length = fr->description_length;
    uint64_t len = fr->description_length < cap ? fr->description_length : cap;
    int rc = siff_io_read(&f->io, fr->description_offset, buf, len, err);
    if (rc && err) err->frame = (int64_t)frame;
    return rc;
}
