/*
 * CRC-32 (IEEE 802.3, the zlib polynomial) with run-time CPU dispatch.
 *
 * Every implementation works on the inverted ("internal") register value;
 * fsmr_crc32 does the inversions zlib's API implies. The SIMD paths fold the
 * message in 128-bit (or 512-bit) lanes with carry-less multiplication and
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
#define FSMR_TARGET_VPCLMUL
#define FSMR_HAVE_VPCLMUL 1
#else
#include <cpuid.h>
#include <immintrin.h>
#define FSMR_TARGET_PCLMUL __attribute__((target("pclmul,sse4.1")))
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

/* ------------------------------------------------------- x86-64 folding */

#if defined(FSMR_X86_64)

/* Fold the 128-bit lane acc forward over a distance whose constants are in
   k (low qword: x^(D+32), high qword: x^(D-32)) and add the lane next. */
FSMR_TARGET_PCLMUL static inline __m128i fold128(__m128i acc, __m128i k, __m128i next)
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

/* Fold four lanes (64 consecutive bytes) into one and then single 16-byte
   blocks; returns the lane. Consumes len rounded down to 16. */
FSMR_TARGET_PCLMUL static inline __m128i fold_tail16(__m128i x0, __m128i x1, __m128i x2, __m128i x3,
                                                     const uint8_t **pp, size_t *plen)
{
    const __m128i k128 = _mm_set_epi64x((long long)FSMR_FOLD_128_HI, (long long)FSMR_FOLD_128_LO);
    const uint8_t *p = *pp;
    size_t len = *plen;
    x0 = fold128(x0, k128, x1);
    x0 = fold128(x0, k128, x2);
    x0 = fold128(x0, k128, x3);
    while (len >= 16) {
        x0 = fold128(x0, k128, _mm_loadu_si128((const void *)p));
        p += 16;
        len -= 16;
    }
    *pp = p;
    *plen = len;
    return x0;
}

FSMR_TARGET_PCLMUL static uint32_t crc32_pclmul(uint32_t crc, const uint8_t *p, size_t len)
{
    const __m128i k512 = _mm_set_epi64x((long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO);
    __m128i x0, x1, x2, x3;

    if (len < 64) {
        return crc32_table(crc, p, len);
    }
    x0 = _mm_xor_si128(_mm_loadu_si128((const void *)p), _mm_cvtsi32_si128((int)crc));
    x1 = _mm_loadu_si128((const void *)(p + 16));
    x2 = _mm_loadu_si128((const void *)(p + 32));
    x3 = _mm_loadu_si128((const void *)(p + 48));
    p += 64;
    len -= 64;
    while (len >= 64) {
        x0 = fold128(x0, k512, _mm_loadu_si128((const void *)p));
        x1 = fold128(x1, k512, _mm_loadu_si128((const void *)(p + 16)));
        x2 = fold128(x2, k512, _mm_loadu_si128((const void *)(p + 32)));
        x3 = fold128(x3, k512, _mm_loadu_si128((const void *)(p + 48)));
        p += 64;
        len -= 64;
    }
    x0 = fold_tail16(x0, x1, x2, x3, &p, &len);
    return crc32_table(reduce128(x0), p, len);
}

#if defined(FSMR_HAVE_VPCLMUL)

FSMR_TARGET_VPCLMUL static inline __m512i fold512(__m512i acc, __m512i k, __m512i next)
{
    __m512i lo = _mm512_clmulepi64_epi128(acc, k, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(acc, k, 0x11);
    /* 0x96 is the truth table of a ^ b ^ c. */
    return _mm512_ternarylogic_epi64(lo, hi, next, 0x96);
}

FSMR_TARGET_VPCLMUL static uint32_t crc32_vpclmul(uint32_t crc, const uint8_t *p, size_t len)
{
    const __m512i k2048 = _mm512_set_epi64(
        (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO, (long long)FSMR_FOLD_2048_HI,
        (long long)FSMR_FOLD_2048_LO, (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO,
        (long long)FSMR_FOLD_2048_HI, (long long)FSMR_FOLD_2048_LO);
    const __m512i k512 = _mm512_set_epi64(
        (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO, (long long)FSMR_FOLD_512_HI,
        (long long)FSMR_FOLD_512_LO, (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO,
        (long long)FSMR_FOLD_512_HI, (long long)FSMR_FOLD_512_LO);
    __m512i z0, z1, z2, z3;

    if (len < 256) {
        return crc32_pclmul(crc, p, len);
    }
    z0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)p),
                          _mm512_inserti32x4(_mm512_setzero_si512(), _mm_cvtsi32_si128((int)crc), 0));
    z1 = _mm512_loadu_si512((const void *)(p + 64));
    z2 = _mm512_loadu_si512((const void *)(p + 128));
    z3 = _mm512_loadu_si512((const void *)(p + 192));
    p += 256;
    len -= 256;
    while (len >= 256) {
        z0 = fold512(z0, k2048, _mm512_loadu_si512((const void *)p));
        z1 = fold512(z1, k2048, _mm512_loadu_si512((const void *)(p + 64)));
        z2 = fold512(z2, k2048, _mm512_loadu_si512((const void *)(p + 128)));
        z3 = fold512(z3, k2048, _mm512_loadu_si512((const void *)(p + 192)));
        p += 256;
        len -= 256;
    }
    /* Four 512-bit accumulators 64 bytes apart become one. */
    z0 = fold512(z0, k512, z1);
    z0 = fold512(z0, k512, z2);
    z0 = fold512(z0, k512, z3);
    while (len >= 64) {
        z0 = fold512(z0, k512, _mm512_loadu_si512((const void *)p));
        p += 64;
        len -= 64;
    }
    {
        __m128i x0 = _mm512_extracti32x4_epi32(z0, 0);
        __m128i x1 = _mm512_extracti32x4_epi32(z0, 1);
        __m128i x2 = _mm512_extracti32x4_epi32(z0, 2);
        __m128i x3 = _mm512_extracti32x4_epi32(z0, 3);
        x0 = fold_tail16(x0, x1, x2, x3, &p, &len);
        return crc32_table(reduce128(x0), p, len);
    }
}
#endif /* FSMR_HAVE_VPCLMUL */

typedef struct {
    int pclmul;
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
    x86_features f = {0, 0};
    unsigned r[4];
    cpuid(0, 0, r);
    if (r[0] < 1) {
        return f;
    }
    {
        unsigned max_leaf = r[0];
        cpuid(1, 0, r);
        /* ECX: bit 1 PCLMULQDQ, bit 19 SSE4.1, bit 27 OSXSAVE. */
        f.pclmul = (r[2] & (1u << 1)) && (r[2] & (1u << 19));
        if (f.pclmul && (r[2] & (1u << 27)) && max_leaf >= 7) {
            /* The OS must save SSE, AVX and all AVX-512 state (XCR0 bits 1,2,5,6,7). */
            int os_avx512 = (xgetbv0() & 0xE6) == 0xE6;
            cpuid(7, 0, r);
            /* EBX: bit 16 AVX512F, bit 31 AVX512VL; ECX: bit 10 VPCLMULQDQ. */
            f.vpclmul = os_avx512 && (r[1] & (1u << 16)) && (r[1] & (1u << 31)) &&
                        (r[2] & (1u << 10));
        }
    }
    return f;
}

#endif /* FSMR_X86_64 */

/* ------------------------------------------------------- aarch64 */

#if defined(FSMR_AARCH64)

FSMR_TARGET_ARMV8 static uint32_t crc32_armv8(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = __crc32b(crc, *p++);
        len--;
    }
    while (len >= 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        memcpy(&c, p + 16, 8);
        memcpy(&d, p + 24, 8);
        crc = __crc32d(crc, a);
        crc = __crc32d(crc, b);
        crc = __crc32d(crc, c);
        crc = __crc32d(crc, d);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t a;
        memcpy(&a, p, 8);
        crc = __crc32d(crc, a);
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = __crc32b(crc, *p++);
    }
    return crc;
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

static const char *const impl_names[FSMR_CRC32_IMPL_COUNT] = {"table", "pclmul", "vpclmul", "armv8"};
static crc32_fn impl_fns[FSMR_CRC32_IMPL_COUNT];
static fsmr_crc32_impl active_impl = FSMR_CRC32_TABLE;
static crc32_fn active_fn;

void fsmr_crc32_init(void)
{
    if (active_fn) {
        return;
    }
    impl_fns[FSMR_CRC32_TABLE] = crc32_table;
#if defined(FSMR_X86_64)
    {
        x86_features f = detect_x86();
        if (f.pclmul) {
            impl_fns[FSMR_CRC32_PCLMUL] = crc32_pclmul;
            active_impl = FSMR_CRC32_PCLMUL;
        }
#if defined(FSMR_HAVE_VPCLMUL)
        if (f.vpclmul) {
            impl_fns[FSMR_CRC32_VPCLMUL] = crc32_vpclmul;
            active_impl = FSMR_CRC32_VPCLMUL;
        }
#endif
    }
#endif
#if defined(FSMR_AARCH64)
    if (detect_armv8_crc()) {
        impl_fns[FSMR_CRC32_ARMV8] = crc32_armv8;
        active_impl = FSMR_CRC32_ARMV8;
    }
#endif
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
