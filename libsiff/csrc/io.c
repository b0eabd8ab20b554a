/* io.c - positional reads that never go past the file's size.
 *
 * On POSIX systems the file is also mapped read-only, at the first frame decode (siff_io_map;
 * opening and metadata calls only pread): frame decoding reads photons straight from the
 * page cache (no copy), which is the largest single cost of a pass over a file.
 * The mapping is only read within the size found at open, each kernel run checks before
 * and after that the file has not shrunk (a page that vanishes during the run is caught by
 * the SIGBUS guard below), and streamed pages of files over 256 MB are released as they are
 * done so the resident set stays small. Without a mapping (Windows, or mmap failing) every read
 * goes through pread/ReadFile. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* pread, O_CLOEXEC under -std=c11 */
#define _DEFAULT_SOURCE 1       /* madvise(MADV_DONTNEED) */
#define _FILE_OFFSET_BITS 64
#endif
#include "siff_internal.h"

#include <errno.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>

int siff_io_open(siff_io *io, const char *path, unsigned flags, siff_error *err) {
    (void)flags;
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
    io->flags = flags;
    io->map_state = 2;
    io->map = NULL;
    io->guard = -1;
    return SIFF_OK;
}

const uint8_t *siff_io_map(const siff_io *io) {
    (void)io;
    return NULL; /* every read goes through ReadFile */
}

void siff_io_close(siff_io *io) {
    if (io->handle) CloseHandle(io->handle);
    io->handle = NULL;
}

int siff_io_check(const siff_io *io, siff_error *err) {
    (void)io;
    (void)err;
    return SIFF_OK; /* no mapping on Windows: reads check the size themselves */
}

void siff_io_release(const siff_io *io, uint64_t off, uint64_t len) {
    (void)io;
    (void)off;
    (void)len;
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
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif
#include <unistd.h>

/* Map only files on local disk filesystems (Linux). A read error on a mapped page is a
 * SIGBUS that no caller can see; network and FUSE filesystems, where I/O errors and remote
 * changes are likely, are read with pread, which reports them. */
static int mappable(int fd) {
#ifdef __linux__
    static const unsigned long local_fs[] = {
        0xEF53UL /* ext2/3/4 */, 0x58465342UL /* xfs */, 0x9123683EUL /* btrfs */,
        0x01021994UL /* tmpfs */, 0xF2F52010UL /* f2fs */, 0x794C7630UL /* overlayfs */,
        0x2FC12FC1UL /* zfs */, 0x858458F6UL /* ramfs */};
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0) return 0;
    for (size_t i = 0; i < sizeof local_fs / sizeof local_fs[0]; i++)
        if ((unsigned long)sf.f_type == local_fs[i]) return 1;
    return 0;
#else
    (void)fd;
    return 0;
#endif
}

/* ---- the SIGBUS guard ----
 * A file that shrinks under a mapping makes reads of the vanished pages raise SIGBUS. The
 * handler looks the faulting address up in a table of libsiff's mappings; inside one, it
 * maps a page of zeros over the vanished page (so the reading loop finishes without
 * jumping out of code that holds allocations or locks) and marks the mapping as faulted;
 * siff_io_check then fails, and siff_run discards its output and reports SIFF_ERR_IO.
 * Outside libsiff's mappings the fault goes to the handler that was there before. The
 * table is lock-free (atomics only), as a signal handler requires; a file that finds it
 * full is read with pread instead. */
#ifdef __linux__ /* files are mapped on Linux only (see mappable) */
#define GUARD_SLOTS 256
typedef struct {
    _Atomic uintptr_t base, len;
    atomic_int faulted;
} guard_slot;
static guard_slot guard_table[GUARD_SLOTS];
static struct sigaction guard_previous;
static uintptr_t guard_page = 4096; /* set before the handler is installed */
static atomic_int guard_state; /* 0 not installed, 1 installing, 2 installed, -1 failed */

static void guard_chain(int sig, siginfo_t *si, void *ctx) {
    if (guard_previous.sa_flags & SA_SIGINFO) {
        if (guard_previous.sa_sigaction) guard_previous.sa_sigaction(sig, si, ctx);
        return;
    }
    if (guard_previous.sa_handler != SIG_DFL && guard_previous.sa_handler != SIG_IGN) {
        guard_previous.sa_handler(sig);
        return;
    }
    /* default action: reinstall it; the faulting access repeats and terminates as usual */
    signal(sig, SIG_DFL);
}

static void guard_handler(int sig, siginfo_t *si, void *ctx) {
    const uintptr_t addr = (uintptr_t)si->si_addr;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t b = atomic_load(&guard_table[i].base), l = atomic_load(&guard_table[i].len);
        if (!b || addr < b || addr - b >= l) continue;
        void *at = (void *)(addr - addr % guard_page);
        if (mmap(at, guard_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
            MAP_FAILED)
            break;
        atomic_store(&guard_table[i].faulted, 1);
        return;
    }
    guard_chain(sig, si, ctx);
}

static int guard_install(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&guard_state, &expected, 1)) {
        long page = sysconf(_SC_PAGESIZE);
        if (page > 0) guard_page = (uintptr_t)page;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = guard_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        atomic_store(&guard_state, sigaction(SIGBUS, &sa, &guard_previous) == 0 ? 2 : -1);
    }
    while ((expected = atomic_load(&guard_state)) == 1) {
    }
    return expected == 2;
}

/* Registers [map, map+size) with the guard; returns its slot or -1 (table full). */
static int guard_register(const uint8_t *map, uint64_t size) {
    if (!guard_install()) return -1;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t zero = 0;
        if (atomic_compare_exchange_strong(&guard_table[i].base, &zero, (uintptr_t)1)) {
            atomic_store(&guard_table[i].faulted, 0);
            atomic_store(&guard_table[i].len, (uintptr_t)size);
            atomic_store(&guard_table[i].base, (uintptr_t)map);
            return i;
        }
    }
    return -1;
}

static void guard_unregister(int slot) {
    if (slot < 0) return;
    atomic_store(&guard_table[slot].len, 0);
    atomic_store(&guard_table[slot].base, 0);
}

static int guard_faulted(int slot) { return atomic_load(&guard_table[slot].faulted); }
#else
static int guard_register(const uint8_t *map, uint64_t size) {
    (void)map;
    (void)size;
    return -1; /* never mapped: reads use pread */
}
static void guard_unregister(int slot) { (void)slot; }
static int guard_faulted(int slot) {
    (void)slot;
    return 0;
}
#endif

int siff_io_open(siff_io *io, const char *path, unsigned flags, siff_error *err) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files go on */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot open file: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "cannot stat file: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return siff_fail(err, SIFF_ERR_IO, -1, -1, "is %s, not a regular file",
                         S_ISDIR(st.st_mode)    ? "a directory"
                         : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                         : S_ISSOCK(st.st_mode) ? "a socket"
                                                : "a device");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    io->fd = fd;
    io->size = (uint64_t)st.st_size;
    io->flags = flags;
    io->map_state = 0;
    io->map = NULL;
    io->guard = -1;
    io->page = 4096;
    return SIFF_OK;
}

static const uint8_t *loaded_map(const siff_io *io) {
    return __atomic_load_n(&io->map, __ATOMIC_ACQUIRE);
}

const uint8_t *siff_io_map(const siff_io *io) {
    siff_io *w = (siff_io *)io; /* the lazily made fields only; the rest stays const */
    int state = __atomic_load_n(&w->map_state, __ATOMIC_ACQUIRE);
    if (state == 2) return loaded_map(io);
    if (state != 0 || !__atomic_compare_exchange_n(&w->map_state, &state, 1, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return loaded_map(io); /* another thread maps it: read with pread meanwhile */
    if (!(io->flags & SIFF_OPEN_PREAD) && io->size > 0 && io->size <= (uint64_t)SIZE_MAX &&
        mappable(io->fd)) {
        long page = sysconf(_SC_PAGESIZE);
        w->page = page > 0 ? (uint64_t)page : 4096;
        void *m = mmap(NULL, (size_t)io->size, PROT_READ, MAP_SHARED, io->fd, 0);
        if (m != MAP_FAILED) {
            int slot = guard_register(m, io->size);
            if (slot >= 0) {
                w->guard = slot;
                __atomic_store_n(&w->map, (const uint8_t *)m, __ATOMIC_RELEASE);
            } else {
                munmap(m, (size_t)io->size); /* unguarded mappings are never used */
            }
        }
    }
    __atomic_store_n(&w->map_state, 2, __ATOMIC_RELEASE);
    return loaded_map(io);
}

void siff_io_close(siff_io *io) {
    /* no call runs any more (the caller's contract), so no mapping is being made */
    guard_unregister(io->guard);
    io->guard = -1;
    if (io->map) munmap((void *)io->map, (size_t)io->size);
    io->map = NULL;
    if (io->fd >= 0) close(io->fd);
    io->fd = -1;
}

int siff_io_check(const siff_io *io, siff_error *err) {
    if (!loaded_map(io)) return SIFF_OK;
    struct stat st;
    if (guard_faulted(io->guard) || fstat(io->fd, &st) != 0 ||
        (uint64_t)st.st_size < io->size)
        return siff_fail(err, SIFF_ERR_IO, -1, -1,
                         "the file is shorter than when it was opened (it was truncated or "
                         "replaced): reopen it");
    return SIFF_OK;
}

/* Reading one page of a mapping also maps its neighbours that are in the page cache (the
 * kernel's fault-around, 64 KB by default): releasing only the pages inside a span would
 * leave those, and the partly read pages at its ends, resident, one batch per frame read
 * out of file order. So every page the span touches goes, with this margin either side.
 * Dropping a clean page of a shared file mapping is harmless even while another worker
 * reads it: the next read maps it again from the page cache. */
#define RELEASE_MARGIN ((uint64_t)1 << 16)
/* A file up to this size stays mapped once read: its resident pages are bounded by the file,
 * and mapping them again on every pass costs more than the pass's own work (a whole-file
 * histogram of 100 MB: 25 ms with the release, 16 ms without, on one thread). */
#define KEEP_MAPPED_MAX ((uint64_t)256 << 20)

static int keeps_mapped(const siff_io *io) { return io->size <= KEEP_MAPPED_MAX; }

void siff_io_release(const siff_io *io, uint64_t off, uint64_t len) {
    const uint8_t *map = loaded_map(io);
    if (!map || len == 0 || off >= io->size || keeps_mapped(io)) return;
    const uint64_t page = io->page;
    uint64_t lo = off > RELEASE_MARGIN ? off - RELEASE_MARGIN : 0;
    uint64_t hi = len < io->size - off ? off + len : io->size;
    hi = io->size - hi > RELEASE_MARGIN ? hi + RELEASE_MARGIN : io->size;
    lo = lo / page * page;
    hi = hi / page * page + (hi % page ? page : 0);
    if (hi > lo) madvise((void *)(map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

static int raw_read(const siff_io *io, uint64_t off, void *buf, uint64_t len) {
    const uint8_t *map = loaded_map(io);
    if (map && keeps_mapped(io)) { /* a copy, not a system call per read */
        memcpy(buf, map + off, (size_t)len);
        return guard_faulted(io->guard) ? -1 : 0;
    }
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
