/* io.c - positional reads that never go past the file's size. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* pread, O_CLOEXEC under -std=c11 */
#define _FILE_OFFSET_BITS 64
#endif
#include "siff_internal.h"

#include <errno.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>

int siff_io_open(siff_io *io, const char *path, siff_error *err) {
    wchar_t wpath[32768];
    if (!MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 32768))
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "path is not valid UTF-8");
    HANDLE h = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot open file (Windows error %lu)",
                         (unsigned long)GetLastError());
    LARGE_INTEGER sz;
    if (!GetFileSizeEx(h, &sz)) {
        CloseHandle(h);
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot get the file size");
    }
    io->handle = h;
    io->size = (uint64_t)sz.QuadPart;
    return SIFF_OK;
}

void siff_io_close(siff_io *io) {
    if (io->handle) CloseHandle(io->handle);
    io->handle = NULL;
}

static int raw_read(const siff_io *io, uint64_t off, void *buf, uint64_t len) {
    uint8_t *p = buf;
    while (len > 0) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        ov.Offset = (DWORD)(off & 0xffffffffu);
        ov.OffsetHigh = (DWORD)(off >> 32);
        DWORD want = len > (1u << 30) ? (1u << 30) : (DWORD)len, got = 0;
        if (!ReadFile(io->handle, p, want, &got, &ov) || got == 0) return -1;
        p += got; off += got; len -= got;
    }
    return 0;
}
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int siff_io_open(siff_io *io, const char *path, siff_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot open file: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot stat file: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "is a directory, not a file");
    }
    io->fd = fd;
    io->size = (uint64_t)st.st_size;
    return SIFF_OK;
}

void siff_io_close(siff_io *io) {
    if (io->fd >= 0) close(io->fd);
    io->fd = -1;
}

static int raw_read(const siff_io *io, uint64_t off, void *buf, uint64_t len) {
    uint8_t *p = buf;
    while (len > 0) {
        size_t want = len > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)len;
        ssize_t got = pread(io->fd, p, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got; off += (uint64_t)got; len -= (uint64_t)got;
    }
    return 0;
}
#endif

int siff_io_read(const siff_io *io, uint64_t off, void *buf, uint64_t len, siff_error *err) {
    if (!siff_fits(off, len, io->size))
        return siff_fail(err, SIFF_ERR_TRUNCATED, -1, (int64_t)off,
                         "read of %llu bytes at offset %llu runs past the end of the file "
                         "(%llu bytes)",
                         (unsigned long long)len, (unsigned long long)off,
                         (unsigned long long)io->size);
    if (len == 0) return SIFF_OK;
    if (raw_read(io, off, buf, len) != 0)
        return siff_fail(err, SIFF_ERR_IO, -1, (int64_t)off,
                         "read of %llu bytes at offset %llu failed (file changed or I/O error)",
                         (unsigned long long)len, (unsigned long long)off);
    return SIFF_OK;
}
