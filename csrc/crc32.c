/*
 * CRC-32 (IEEE 802.3, the zlib polynomial) with run-time CPU dispatch.
 *
 * Every implementation works on the inverted ("internal") register value;
 * fsmr_crc32 does the inversions zlib's API implies. The SIMD paths fold the
 * message in 128-, 256- or 512-bit lanes with carry-less multiplication and
 * finish with a Barrett reduction, as described in Intel's white paper "Fast
 * CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction"; the
 * constants come from tools/gen_crc32_tables.py.
 */
#include "fastsmr.h"
#include "crc32_tables.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define FSMR_X86_64 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define FSMR_AARCH64 1
#endif

#if defined(FSMR_X86_64)
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define FSMR_TARGET_PCLMUL
#define FSMR_TARGET_VPCLMUL256
#define FSMR_TARGET_VPCLMUL
#define FSMR_HAVE_VPCLMUL 1
#else
#include <cpuid.h>
#include <immintrin.h>
#define FSMR_TARGET_PCLMUL __attribute__((target("pclmul,sse4.1")))
#define FSMR_TARGET_VPCLMUL256 __attribute__((target("pclmul,sse4.1,avx,avx2,vpclmulqdq")))
#define FSMR_TARGET_VPCLMUL __attribute__((target("pclmul,sse4.1,avx512f,avx512vl,vpclmulqdq")))
/* VPCLMULQDQ intrinsics need GCC 8 or clang 6. */
#if (defined(__clang__) && __clang_major__ >= 6) || (!defined(__clang__) && __GNUC__ >= 8)
#define FSMR_HAVE_VPCLMUL 1
#endif
#endif
#endif

#if defined(FSMR_AARCH64)
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <windows.h>
#define FSMR_TARGET_ARMV8
#else
#include <arm_acle.h>
#if defined(__clang__)
#define FSMR_TARGET_ARMV8 __attribute__((target("crc")))
#else
#define FSMR_TARGET_ARMV8 __attribute__((target("+crc")))
#endif
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif
#endif
#endif

/* ------------------------------------------------------- slicing-by-8 */

static uint32_t crc32_table(uint32_t crc, const uint8_t *p, size_t len)
{
    /* Whole bytes are assembled little-endian by hand, which is both
       endian-neutral and, on little-endian CPUs, compiled to plain loads. */
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        crc = fsmr_crc32_table[7][lo & 0xff] ^ fsmr_crc32_table[6][(lo >> 8) & 0xff] ^
              fsmr_crc32_table[5][(lo >> 16) & 0xff] ^ fsmr_crc32_table[4][lo >> 24] ^
              fsmr_crc32_table[3][hi & 0xff] ^ fsmr_crc32_table[2][(hi >> 8) & 0xff] ^
              fsmr_crc32_table[1][(hi >> 16) & 0xff] ^ fsmr_crc32_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = fsmr_crc32_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

/* ------------------------------------------------------- copying */

/* Every implementation also copies: fsmr_crc32_copy writes the bytes it
   checksums to a destination in the same pass, so that a payload being
   assembled is read from memory once. The SIMD kernels below are written once
   with an optional destination (NULL: checksum only) and a flag for
   non-temporal stores, and inlined into each entry point with constant
   arguments, which compiles each use to its own loop. They step through the
   buffers by index so that no offset is ever added to a NULL destination. */
#if defined(_MSC_VER) && !defined(__clang__)
#define FSMR_ALWAYS_INLINE static __forceinline
#else
#define FSMR_ALWAYS_INLINE static inline __attribute__((always_inline))
#endif

/* memcpy, with non-temporal stores where the CPU has them: the destination
   lines are not read in first (no read-for-ownership) and do not push the
   source out of the cache. The caller fences. */
static void copy_stream(uint8_t *dst, const uint8_t *src, size_t len)
{
#if defined(FSMR_X86_64)
    size_t head = (size_t)(-(uintptr_t)dst & 15);
    if (head > len) {
        head = len;
    }
    memcpy(dst, src, head);
    dst += head;
    src += head;
    len -= head;
    while (len >= 64) {
        __m128i a = _mm_loadu_si128((const void *)src);
        __m128i b = _mm_loadu_si128((const void *)(src + 16));
        __m128i c = _mm_loadu_si128((const void *)(src + 32));
        __m128i d = _mm_loadu_si128((const void *)(src + 48));
        _mm_stream_si128((void *)dst, a);
        _mm_stream_si128((void *)(dst + 16), b);
        _mm_stream_si128((void *)(dst + 32), c);
        _mm_stream_si128((void *)(dst + 48), d);
        dst += 64;
        src += 64;
        len -= 64;
    }
#endif
    memcpy(dst, src, len);
}

/* Streaming stores are weakly ordered: make them visible before the bytes
   are handed to anyone (another thread may read them next). */
static void fence_streams(void)
{
#if defined(FSMR_X86_64)
    _mm_sfence();
#endif
}

/* The table implementation copies a block small enough to stay in the
   first-level cache and then checksums it there: memory sees one pass. */
static uint32_t crc32_table_copy(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len, int uncached)
{
    while (len) {
        size_t n = len < 4096 ? len : 4096;
        if (uncached) {
            copy_stream(dst, p, n);
        } else {
            memcpy(dst, p, n);
        }
        crc = crc32_table(crc, p, n);
        dst += n;
        p += n;
        len -= n;
    }
    if (uncached) {
        fence_streams();
    }
    return crc;
}

/* ------------------------------------------------------- x86-64 folding */

#if defined(FSMR_X86_64)

/* The checksum of a few bytes (at most one block of a SIMD kernel), and
   their copy when dst is set. */
static uint32_t table_copy_small(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len)
{
    if (dst && len) {
        memcpy(dst, p, len);
    }
    return crc32_table(crc, p, len);
}

/* Bytes to copy one at a time before dst is aligned to `align` (a power of
   two) for streaming stores, at most len. */
static size_t head_to_align(const uint8_t *dst, size_t len, size_t align)
{
    size_t head = (size_t)(-(uintptr_t)dst & (align - 1));
    return head < len ? head : len;
}

/* Fold the 128-bit lane acc forward over a distance whose constants are in
   k (low qword: x^(D+32), high qword: x^(D-32)) and add the lane next. */
FSMR_TARGET_PCLMUL FSMR_ALWAYS_INLINE __m128i fold128(__m128i acc, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* Reduce one 128-bit lane (the CRC of everything folded into it, times
   x^32) to the 32-bit register value. */
FSMR_TARGET_PCLMUL static inline uint32_t reduce128(__m128i x)
{
    const __m128i mask32 = _mm_setr_epi32(-1, 0, -1, 0);
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    const __m128i k64 = _mm_set_epi64x(0, (long long)FSMR_FOLD_64);
    const __m128i barrett = _mm_set_epi64x((long long)FSMR_BARRETT_MU, (long long)FSMR_BARRETT_P);
    __m128i t;

    /* 128 -> 96 bits, then 96 -> 64 bits. */
    t = _mm_clmulepi64_si128(x, k128, 0x10);
    x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
    t = _mm_srli_si128(x, 4);
    x = _mm_clmulepi64_si128(_mm_and_si128(x, mask32), k64, 0x00);
    x = _mm_xor_si128(x, t);

    /* Barrett: 64 -> 32 bits. */
    t = _mm_clmulepi64_si128(_mm_and_si128(x, mask32), barrett, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), barrett, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}

/* The kernels ask for the source's cache lines this many bytes ahead of their
   loads: for a stream that comes from memory, the hardware prefetchers alone
   keep too few misses in flight (on AMD Zen 3 this makes checksumming, and
   copying while checksumming, 16 MiB that is not in the cache 15-25% faster). */
#define FSMR_PREFETCH_AHEAD 2048u

/* Prefetch the `lines` cache lines FSMR_PREFETCH_AHEAD bytes past p + i, if
   they are inside p[0:len]. */
FSMR_ALWAYS_INLINE void prefetch_ahead(const uint8_t *p, size_t i, size_t len, size_t lines)
{
    size_t k;
    if (len - i > FSMR_PREFETCH_AHEAD + 64 * (lines - 1)) {
        for (k = 0; k < lines; k++) {
            _mm_prefetch((const char *)(p + i + FSMR_PREFETCH_AHEAD + 64 * k), _MM_HINT_T0);
        }
    }
}

/* The 16 bytes at p + i, stored to dst + i too when copying. */
FSMR_TARGET_PCLMUL FSMR_ALWAYS_INLINE __m128i take128(uint8_t *dst, const uint8_t *p, size_t i, int uncached)
{
    __m128i v = _mm_loadu_si128((const void *)(p + i));
    if (dst) {
        if (uncached) {
            _mm_stream_si128((void *)(dst + i), v);
        } else {
            _mm_storeu_si128((void *)(dst + i), v);
        }
    }
    return v;
}

/* Fold the 16-byte blocks from p + i on into the lane x, reduce it and
   finish the last few bytes with the table. */
FSMR_TARGET_PCLMUL FSMR_ALWAYS_INLINE uint32_t finish128(__m128i x, uint8_t *dst, const uint8_t *p, size_t i,
                                                        size_t len, int uncached)
{
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    for (; len - i >= 16; i += 16) {
        x = fold128(x, k128, take128(dst, p, i, uncached));
    }
    return table_copy_small(reduce128(x), dst ? dst + i : NULL, p + i, len - i);
}

/* Four 128-bit lanes, 64 bytes a step. */
FSMR_TARGET_PCLMUL FSMR_ALWAYS_INLINE uint32_t pclmul_kernel(uint32_t crc, uint8_t *dst, const uint8_t *p,
                                                            size_t len, int uncached)
{
    const __m128i k512 = _mm_set_epi64x((long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO);
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    __m128i x0, x1, x2, x3;
    size_t i;

    if (len < 64) {
        return table_copy_small(crc, dst, p, len);
    }
    x0 = _mm_xor_si128(take128(dst, p, 0, uncached), _mm_cvtsi32_si128((int)crc));
    x1 = take128(dst, p, 16, uncached);
    x2 = take128(dst, p, 32, uncached);
    x3 = take128(dst, p, 48, uncached);
    for (i = 64; len - i >= 64; i += 64) {
        prefetch_ahead(p, i, len, 1);
        x0 = fold128(x0, k512, take128(dst, p, i, uncached));
        x1 = fold128(x1, k512, take128(dst, p, i + 16, uncached));
        x2 = fold128(x2, k512, take128(dst, p, i + 32, uncached));
        x3 = fold128(x3, k512, take128(dst, p, i + 48, uncached));
    }
    x0 = fold128(x0, k128, x1);
    x0 = fold128(x0, k128, x2);
    x0 = fold128(x0, k128, x3);
    return finish128(x0, dst, p, i, len, uncached);
}

FSMR_TARGET_PCLMUL static uint32_t crc32_pclmul(uint32_t crc, const uint8_t *p, size_t len)
{
    return pclmul_kernel(crc, NULL, p, len, 0);
}

FSMR_TARGET_PCLMUL static uint32_t crc32_pclmul_copy(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len,
                                                    int uncached)
{
    size_t head;
    if (!uncached) {
        return pclmul_kernel(crc, dst, p, len, 0);
    }
    head = head_to_align(dst, len, 16);
    crc = table_copy_small(crc, dst, p, head);
    crc = pclmul_kernel(crc, dst + head, p + head, len - head, 1);
    _mm_sfence();
    return crc;
}

#if defined(FSMR_HAVE_VPCLMUL)

/* ---- 256-bit lanes (AVX2 and VPCLMULQDQ) */

FSMR_TARGET_VPCLMUL256 FSMR_ALWAYS_INLINE __m256i fold256(__m256i acc, __m256i k, __m256i next)
{
    __m256i lo = _mm256_clmulepi64_epi128(acc, k, 0x00);
    __m256i hi = _mm256_clmulepi64_epi128(acc, k, 0x11);
    return _mm256_xor_si256(_mm256_xor_si256(lo, hi), next);
}

FSMR_TARGET_VPCLMUL256 FSMR_ALWAYS_INLINE __m256i take256(uint8_t *dst, const uint8_t *p, size_t i, int uncached)
{
    __m256i v = _mm256_loadu_si256((const void *)(p + i));
    if (dst) {
        if (uncached) {
            _mm256_stream_si256((void *)(dst + i), v);
        } else {
            _mm256_storeu_si256((void *)(dst + i), v);
        }
    }
    return v;
}

/* Four 256-bit lanes, 128 bytes a step. */
FSMR_TARGET_VPCLMUL256 FSMR_ALWAYS_INLINE uint32_t vpclmul256_kernel(uint32_t crc, uint8_t *dst, const uint8_t *p,
                                                                    size_t len, int uncached)
{
    const __m256i k1024 = _mm256_set_epi64x((long long)FSMR_FOLD_1024_HI, (long long)FSMR_FOLD_1024_LO,
                                            (long long)FSMR_FOLD_1024_HI, (long long)FSMR_FOLD_1024_LO);
    const __m256i k256 = _mm256_set_epi64x((long long)FSMR_FOLD_256_HI, (long long)FSMR_FOLD_256_LO,
                                           (long long)FSMR_FOLD_256_HI, (long long)FSMR_FOLD_256_LO);
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    __m256i z0, z1, z2, z3;
    size_t i;

    if (len < 128) {
        return pclmul_kernel(crc, dst, p, len, uncached);
    }
    z0 = _mm256_xor_si256(take256(dst, p, 0, uncached), _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, (int)crc));
    z1 = take256(dst, p, 32, uncached);
    z2 = take256(dst, p, 64, uncached);
    z3 = take256(dst, p, 96, uncached);
    for (i = 128; len - i >= 128; i += 128) {
        prefetch_ahead(p, i, len, 2);
        z0 = fold256(z0, k1024, take256(dst, p, i, uncached));
        z1 = fold256(z1, k1024, take256(dst, p, i + 32, uncached));
        z2 = fold256(z2, k1024, take256(dst, p, i + 64, uncached));
        z3 = fold256(z3, k1024, take256(dst, p, i + 96, uncached));
    }
    /* Four accumulators 32 bytes apart become one, then one lane. */
    z0 = fold256(z0, k256, z1);
    z0 = fold256(z0, k256, z2);
    z0 = fold256(z0, k256, z3);
    for (; len - i >= 32; i += 32) {
        z0 = fold256(z0, k256, take256(dst, p, i, uncached));
    }
    return finish128(fold128(_mm256_castsi256_si128(z0), k128, _mm256_extracti128_si256(z0, 1)), dst, p, i,
                     len, uncached);
}

FSMR_TARGET_VPCLMUL256 static uint32_t crc32_vpclmul256(uint32_t crc, const uint8_t *p, size_t len)
{
    return vpclmul256_kernel(crc, NULL, p, len, 0);
}

FSMR_TARGET_VPCLMUL256 static uint32_t crc32_vpclmul256_copy(uint32_t crc, uint8_t *dst, const uint8_t *p,
                                                            size_t len, int uncached)
{
    size_t head;
    if (!uncached) {
        return vpclmul256_kernel(crc, dst, p, len, 0);
    }
    head = head_to_align(dst, len, 32);
    crc = table_copy_small(crc, dst, p, head);
    crc = vpclmul256_kernel(crc, dst + head, p + head, len - head, 1);
    _mm_sfence();
    return crc;
}

/* ---- 512-bit lanes (AVX-512 and VPCLMULQDQ) */

FSMR_TARGET_VPCLMUL FSMR_ALWAYS_INLINE __m512i fold512(__m512i acc, __m512i k, __m512i next)
{
    __m512i lo = _mm512_clmulepi64_epi128(acc, k, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(acc, k, 0x11);
    /* 0x96 is the truth table of a ^ b ^ c. */
    return _mm512_ternarylogic_epi64(lo, hi, next, 0x96);
}

FSMR_TARGET_VPCLMUL FSMR_ALWAYS_INLINE __m512i take512(uint8_t *dst, const uint8_t *p, size_t i, int uncached)
{
    __m512i v = _mm512_loadu_si512((const void *)(p + i));
    if (dst) {
        if (uncached) {
            _mm512_stream_si512((void *)(dst + i), v);
        } else {
            _mm512_storeu_si512((void *)(dst + i), v);
        }
    }
    return v;
}

/* Four 512-bit lanes, 256 bytes a step. */
FSMR_TARGET_VPCLMUL FSMR_ALWAYS_INLINE uint32_t vpclmul_kernel(uint32_t crc, uint8_t *dst, const uint8_t *p,
                                                              size_t len, int uncached)
{
    const __m512i k2048 = _mm512_set_epi64(
        (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO, (long long)FSMR_FOLD_2048_HI,
        (long long)FSMR_FOLD_2048_LO, (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO,
        (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO);
    const __m512i k512 = _mm512_set_epi64(
        (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO, (long long)FSMR_FOLD_512_HI,
        (long long)FSMR_FOLD_512_LO, (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO,
        (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO);
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    __m512i z0, z1, z2, z3;
    __m128i x;
    size_t i;

    if (len < 256) {
        return pclmul_kernel(crc, dst, p, len, uncached);
    }
    z0 = _mm512_xor_si512(take512(dst, p, 0, uncached),
                          _mm512_inserti32x4(_mm512_setzero_si512(), _mm_cvtsi32_si128((int)crc), 0));
    z1 = take512(dst, p, 64, uncached);
    z2 = take512(dst, p, 128, uncached);
    z3 = take512(dst, p, 192, uncached);
    for (i = 256; len - i >= 256; i += 256) {
        prefetch_ahead(p, i, len, 4);
        z0 = fold512(z0, k2048, take512(dst, p, i, uncached));
        z1 = fold512(z1, k2048, take512(dst, p, i + 64, uncached));
        z2 = fold512(z2, k2048, take512(dst, p, i + 128, uncached));
        z3 = fold512(z3, k2048, take512(dst, p, i + 192, uncached));
    }
    /* Four 512-bit accumulators 64 bytes apart become one, then one lane. */
    z0 = fold512(z0, k512, z1);
    z0 = fold512(z0, k512, z2);
    z0 = fold512(z0, k512, z3);
    for (; len - i >= 64; i += 64) {
        z0 = fold512(z0, k512, take512(dst, p, i, uncached));
    }
    x = fold128(_mm512_extracti32x4_epi32(z0, 0), k128, _mm512_extracti32x4_epi32(z0, 1));
    x = fold128(x, k128, _mm512_extracti32x4_epi32(z0, 2));
    x = fold128(x, k128, _mm512_extracti32x4_epi32(z0, 3));
    return finish128(x, dst, p, i, len, uncached);
}

FSMR_TARGET_VPCLMUL static uint32_t crc32_vpclmul(uint32_t crc, const uint8_t *p, size_t len)
{
    return vpclmul_kernel(crc, NULL, p, len, 0);
}

FSMR_TARGET_VPCLMUL static uint32_t crc32_vpclmul_copy(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len,
                                                      int uncached)
{
    size_t head;
    if (!uncached) {
        return vpclmul_kernel(crc, dst, p, len, 0);
    }
    head = head_to_align(dst, len, 64);
    crc = table_copy_small(crc, dst, p, head);
    crc = vpclmul_kernel(crc, dst + head, p + head, len - head, 1);
    _mm_sfence();
    return crc;
}
#endif /* FSMR_HAVE_VPCLMUL */

typedef struct {
    int pclmul;
    int vpclmul256;
    int vpclmul;
} x86_features;

static void cpuid(int leaf, int subleaf, unsigned regs[4])
{
#if defined(_MSC_VER) && !defined(__clang__)
    int r[4];
    __cpuidex(r, leaf, subleaf);
    regs[0] = (unsigned)r[0];
    regs[1] = (unsigned)r[1];
    regs[2] = (unsigned)r[2];
    regs[3] = (unsigned)r[3];
#else
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

static uint64_t xgetbv0(void)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return _xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#endif
}

static x86_features detect_x86(void)
{
    x86_features f = {0, 0, 0};
    unsigned r[4];
    cpuid(0, 0, r);
    if (r[0] < 1) {
        return f;
    }
    {
        unsigned max_leaf = r[0];
        cpuid(1, 0, r);
        /* ECX: bit 1 PCLMULQDQ, bit 19 SSE4.1, bit 27 OSXSAVE, bit 28 AVX. */
        f.pclmul = (r[2] & (1u << 1)) && (r[2] & (1u << 19));
        if (f.pclmul && (r[2] & (1u << 27)) && (r[2] & (1u << 28)) && max_leaf >= 7) {
            /* The OS must save SSE and AVX state (XCR0 bits 1, 2), and all
               AVX-512 state (bits 5, 6, 7) for the 512-bit path. */
            uint64_t xcr0 = xgetbv0();
            int os_avx = (xcr0 & 0x6) == 0x6;
            int os_avx512 = (xcr0 & 0xE6) == 0xE6;
            cpuid(7, 0, r);
            /* EBX: bit 5 AVX2, bit 16 AVX512F, bit 31 AVX512VL; ECX: bit 10 VPCLMULQDQ. */
            f.vpclmul256 = os_avx && (r[1] & (1u << 5)) && (r[2] & (1u << 10));
            f.vpclmul = os_avx512 && (r[1] & (1u << 16)) && (r[1] & (1u << 31)) &&
                        (r[2] & (1u << 10));
        }
    }
    return f;
}

#endif /* FSMR_X86_64 */

/* ------------------------------------------------------- aarch64 */

#if defined(FSMR_AARCH64)

/* Eight bytes at a time once p is aligned to 8, copied to dst too when set. */
FSMR_TARGET_ARMV8 FSMR_ALWAYS_INLINE uint32_t armv8_kernel(uint32_t crc, uint8_t *dst, const uint8_t *p,
                                                          size_t len)
{
    size_t i = 0;
    uint64_t a, b, c, d;
    for (; i < len && ((uintptr_t)(p + i) & 7); i++) {
        if (dst) {
            dst[i] = p[i];
        }
        crc = __crc32b(crc, p[i]);
    }
    for (; len - i >= 32; i += 32) {
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        if (dst) {
            memcpy(dst + i, &a, 8);
            memcpy(dst + i + 8, &b, 8);
            memcpy(dst + i + 16, &c, 8);
            memcpy(dst + i + 24, &d, 8);
        }
        crc = __crc32d(crc, a);
        crc = __crc32d(crc, b);
        crc = __crc32d(crc, c);
        crc = __crc32d(crc, d);
    }
    for (; len - i >= 8; i += 8) {
        memcpy(&a, p + i, 8);
        if (dst) {
            memcpy(dst + i, &a, 8);
        }
        crc = __crc32d(crc, a);
    }
    for (; i < len; i++) {
        if (dst) {
            dst[i] = p[i];
        }
        crc = __crc32b(crc, p[i]);
    }
    return crc;
}

FSMR_TARGET_ARMV8 static uint32_t crc32_armv8(uint32_t crc, const uint8_t *p, size_t len)
{
    return armv8_kernel(crc, NULL, p, len);
}

/* No streaming stores here: uncached is a hint this path does not take. */
FSMR_TARGET_ARMV8 static uint32_t crc32_armv8_copy(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len,
                                                  int uncached)
{
    (void)uncached;
    return armv8_kernel(crc, dst, p, len);
}

static int detect_armv8_crc(void)
{
#if defined(__ARM_FEATURE_CRC32) || defined(__APPLE__)
    return 1;
#elif defined(_WIN32)
    return IsProcessorFeaturePresent(PF_ARM_V8_CRC32_INSTRUCTIONS_AVAILABLE) != 0;
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#else
    return 0;
#endif
}

#endif /* FSMR_AARCH64 */

/* ------------------------------------------------------- dispatch */

typedef uint32_t (*crc32_fn)(uint32_t, const uint8_t *, size_t);
typedef uint32_t (*crc32_copy_fn)(uint32_t, uint8_t *, const uint8_t *, size_t, int);

static const char *const impl_names[FSMR_CRC32_IMPL_COUNT] = {"table", "pclmul", "vpclmul256", "vpclmul",
                                                              "armv8"};
static crc32_fn impl_fns[FSMR_CRC32_IMPL_COUNT];
static crc32_copy_fn impl_copy_fns[FSMR_CRC32_IMPL_COUNT];
static fsmr_crc32_impl active_impl = FSMR_CRC32_TABLE;
static crc32_copy_fn active_copy_fn;
static crc32_fn active_fn; /* set last: non-NULL means initialised */

static void offer(fsmr_crc32_impl impl, crc32_fn fn, crc32_copy_fn copy_fn)
{
    /* Each one offered is faster than those before it. */
    impl_fns[impl] = fn;
    impl_copy_fns[impl] = copy_fn;
    active_impl = impl;
}

void fsmr_crc32_init(void)
{
    if (active_fn) {
        return;
    }
    offer(FSMR_CRC32_TABLE, crc32_table, crc32_table_copy);
#if defined(FSMR_X86_64)
    {
        x86_features f = detect_x86();
        if (f.pclmul) {
            offer(FSMR_CRC32_PCLMUL, crc32_pclmul, crc32_pclmul_copy);
        }
#if defined(FSMR_HAVE_VPCLMUL)
        if (f.vpclmul256) {
            offer(FSMR_CRC32_VPCLMUL256, crc32_vpclmul256, crc32_vpclmul256_copy);
        }
        if (f.vpclmul) {
            offer(FSMR_CRC32_VPCLMUL, crc32_vpclmul, crc32_vpclmul_copy);
        }
#endif
    }
#endif
#if defined(FSMR_AARCH64)
    if (detect_armv8_crc()) {
        offer(FSMR_CRC32_ARMV8, crc32_armv8, crc32_armv8_copy);
    }
#endif
    active_copy_fn = impl_copy_fns[active_impl];
    active_fn = impl_fns[active_impl];
}

int fsmr_crc32_available(fsmr_crc32_impl impl)
{
    fsmr_crc32_init();
    return (unsigned)impl < FSMR_CRC32_IMPL_COUNT && impl_fns[impl] != NULL;
}

const char *fsmr_crc32_name(fsmr_crc32_impl impl)
{
    return (unsigned)impl < FSMR_CRC32_IMPL_COUNT ? impl_names[impl] : "unknown";
}

fsmr_crc32_impl fsmr_crc32_active(void)
{
    fsmr_crc32_init();
    return active_impl;
}

int fsmr_crc32_set_impl(fsmr_crc32_impl impl)
{
    if (!fsmr_crc32_available(impl)) {
        return -1;
    }
    active_impl = impl;
    active_copy_fn = impl_copy_fns[impl];
    active_fn = impl_fns[impl];
    return 0;
}

uint32_t fsmr_crc32(uint32_t crc, const void *buf, size_t len)
{
    if (!active_fn) {
        fsmr_crc32_init();
    }
    return ~active_fn(~crc, (const uint8_t *)buf, len);
}

uint32_t fsmr_crc32_using(fsmr_crc32_impl impl, uint32_t crc, const void *buf, size_t len)
{
    /* Without this, a caller whose first CRC call names the table (always
       available) would jump through a still-NULL pointer. */
    if (!active_fn) {
        fsmr_crc32_init();
    }
    return ~impl_fns[impl](~crc, (const uint8_t *)buf, len);
}

uint32_t fsmr_crc32_copy(uint32_t crc, void *dst, const void *src, size_t len, int uncached)
{
    if (!active_fn) {
        fsmr_crc32_init();
    }
    return ~active_copy_fn(~crc, (uint8_t *)dst, (const uint8_t *)src, len, uncached);
}

uint32_t fsmr_crc32_copy_using(fsmr_crc32_impl impl, uint32_t crc, void *dst, const void *src, size_t len,
                               int uncached)
{
    if (!active_fn) {
        fsmr_crc32_init();
    }
    return ~impl_copy_fns[impl](~crc, (uint8_t *)dst, (const uint8_t *)src, len, uncached);
}
