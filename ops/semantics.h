/*
 * semantics.h: what every operation computes, once, free of undefined
 * behaviour. All arithmetic is on uint64_t, so it wraps. src/isa.rs documents
 * the same results and src/interp.rs implements them again in Rust; the
 * differential tests hold the two to each other.
 */
#ifndef COPYJIT_SEMANTICS_H
#define COPYJIT_SEMANTICS_H

#define CJ_INLINE static inline __attribute__((always_inline))

/*
 * GCC and clang define the two implementation-defined behaviours used here:
 * converting an out-of-range uint64_t to int64_t wraps, and `>>` on a
 * negative int64_t shifts in sign bits.
 */
#define CJ_S(a) ((int64_t)(a))

#if UINTPTR_MAX == 0xffffffffu
/*
 * 32-bit targets: a 64-bit `/` or `%` would call libgcc (__udivdi3,
 * __aeabi_uldivmod), which lies outside the op. Long division by shift and
 * subtract keeps the op self-contained.
 */
CJ_INLINE reg_t cj_udivmod(reg_t n, reg_t d, reg_t *rem) {
    /* The dividend's bits leave n at the top into the remainder r, and the
     * quotient's enter n at the bottom: no shift by a variable amount, which
     * takes a 32-bit target several instructions. r << 1 drops no bit: r is
     * below d before every step, and below 2^63 too where d is larger (no
     * step but the last can subtract such a d). */
    reg_t r = 0;
    /* Not unrolled: clang repeats the step 8 times, 900 bytes of Thumb code
     * per op instead of 250, too long for a code block on some targets. */
#if defined(__clang__)
#pragma clang loop unroll(disable)
#endif
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (n >> 63);
        n <<= 1;
        if (r >= d) {
            r -= d;
            n |= 1;
        }
    }
    *rem = r;
    return n;
}
CJ_INLINE reg_t cj_udiv_raw(reg_t a, reg_t b) { reg_t r; return cj_udivmod(a, b, &r); }
CJ_INLINE reg_t cj_urem_raw(reg_t a, reg_t b) { reg_t r; cj_udivmod(a, b, &r); return r; }
/* Signed division on magnitudes, truncating toward zero. */
CJ_INLINE reg_t cj_sdiv_raw(reg_t a, reg_t b) {
    reg_t q = cj_udiv_raw(CJ_S(a) < 0 ? -a : a, CJ_S(b) < 0 ? -b : b);
    return CJ_S(a ^ b) < 0 ? -q : q;
}
CJ_INLINE reg_t cj_srem_raw(reg_t a, reg_t b) {
    reg_t r = cj_urem_raw(CJ_S(a) < 0 ? -a : a, CJ_S(b) < 0 ? -b : b);
    return CJ_S(a) < 0 ? -r : r;
}
#else
CJ_INLINE reg_t cj_udiv_raw(reg_t a, reg_t b) { return a / b; }
CJ_INLINE reg_t cj_urem_raw(reg_t a, reg_t b) { return a % b; }
CJ_INLINE reg_t cj_sdiv_raw(reg_t a, reg_t b) { return (reg_t)(CJ_S(a) / CJ_S(b)); }
CJ_INLINE reg_t cj_srem_raw(reg_t a, reg_t b) { return (reg_t)(CJ_S(a) % CJ_S(b)); }
#endif

CJ_INLINE reg_t cj_add(reg_t a, reg_t b) { return a + b; }
CJ_INLINE reg_t cj_sub(reg_t a, reg_t b) { return a - b; }
CJ_INLINE reg_t cj_mul(reg_t a, reg_t b) { return a * b; }
CJ_INLINE reg_t cj_and(reg_t a, reg_t b) { return a & b; }
CJ_INLINE reg_t cj_or(reg_t a, reg_t b) { return a | b; }
CJ_INLINE reg_t cj_xor(reg_t a, reg_t b) { return a ^ b; }
/* Shift counts are taken modulo 64. */
CJ_INLINE reg_t cj_shl(reg_t a, reg_t b) { return a << (b & 63); }
CJ_INLINE reg_t cj_shr(reg_t a, reg_t b) { return a >> (b & 63); }
CJ_INLINE reg_t cj_sar(reg_t a, reg_t b) { return (reg_t)(CJ_S(a) >> (b & 63)); }
/* Division by zero gives 0; the remainder of a division by zero is the dividend. */
CJ_INLINE reg_t cj_udiv(reg_t a, reg_t b) { return b ? cj_udiv_raw(a, b) : 0; }
CJ_INLINE reg_t cj_urem(reg_t a, reg_t b) { return b ? cj_urem_raw(a, b) : a; }
/* Signed division truncates toward zero; i64::MIN / -1 wraps to i64::MIN
 * and i64::MIN % -1 is 0 (the cases C leaves undefined). */
CJ_INLINE reg_t cj_sdiv(reg_t a, reg_t b) {
    if (!b)
        return 0;
    if (b == (reg_t)-1)
        return -a;
    return cj_sdiv_raw(a, b);
}
CJ_INLINE reg_t cj_srem(reg_t a, reg_t b) {
    if (!b)
        return a;
    if (b == (reg_t)-1)
        return 0;
    return cj_srem_raw(a, b);
}

/* 32-bit arithmetic: the low 32 bits of the 64-bit result, zero-extended. */
CJ_INLINE reg_t cj_add32(reg_t a, reg_t b) { return (uint32_t)cj_add(a, b); }
CJ_INLINE reg_t cj_sub32(reg_t a, reg_t b) { return (uint32_t)cj_sub(a, b); }
CJ_INLINE reg_t cj_mul32(reg_t a, reg_t b) { return (uint32_t)cj_mul(a, b); }
CJ_INLINE reg_t cj_shl32(reg_t a, reg_t b) { return (uint32_t)cj_shl(a, b); }

CJ_INLINE reg_t cj_not(reg_t a) { return ~a; }
CJ_INLINE reg_t cj_neg(reg_t a) { return -a; }

/* Comparisons. */
CJ_INLINE int cj_eq(reg_t a, reg_t b) { return a == b; }
CJ_INLINE int cj_ne(reg_t a, reg_t b) { return a != b; }
CJ_INLINE int cj_ult(reg_t a, reg_t b) { return a < b; }
CJ_INLINE int cj_ule(reg_t a, reg_t b) { return a <= b; }
CJ_INLINE int cj_ugt(reg_t a, reg_t b) { return a > b; }
CJ_INLINE int cj_uge(reg_t a, reg_t b) { return a >= b; }
CJ_INLINE int cj_slt(reg_t a, reg_t b) { return CJ_S(a) < CJ_S(b); }
CJ_INLINE int cj_sle(reg_t a, reg_t b) { return CJ_S(a) <= CJ_S(b); }
CJ_INLINE int cj_sgt(reg_t a, reg_t b) { return CJ_S(a) > CJ_S(b); }
CJ_INLINE int cj_sge(reg_t a, reg_t b) { return CJ_S(a) >= CJ_S(b); }
CJ_INLINE int cj_tst(reg_t a, reg_t b) { return (a & b) != 0; }
CJ_INLINE int cj_ntst(reg_t a, reg_t b) { return (a & b) == 0; }

/* Loads, named after their type in copyjit.h: native byte order at the
 * type's alignment, zero- or sign-extended through the type. */
#define CJ_NATIVE_LOAD(t)                                                      \
    CJ_INLINE reg_t t##_load(uintptr_t at) {                                   \
        return (reg_t)(int64_t)*(const t *)at;                                 \
    }
CJ_NATIVE_LOAD(cj_u8)
CJ_NATIVE_LOAD(cj_u16)
CJ_NATIVE_LOAD(cj_u32)
CJ_NATIVE_LOAD(cj_u64)
CJ_NATIVE_LOAD(cj_i8)
CJ_NATIVE_LOAD(cj_i16)
CJ_NATIVE_LOAD(cj_i32)

/*
 * Big-endian loads at any alignment, assembled from bytes. Compilers turn
 * the pattern into one load (and a byte swap on little-endian targets)
 * where the target allows unaligned access and has a swap instruction, and
 * leave byte loads where it does not. __builtin_bswap* is no substitute:
 * without a swap instruction (riscv64 without Zbb) GCC makes it a call to
 * libgcc's __bswapsi2, outside the op, which the build rejects.
 */
CJ_INLINE uint32_t cj_be32_at(const cj_u8 *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}
CJ_INLINE reg_t cj_be16_load(uintptr_t at) {
    const cj_u8 *p = (const cj_u8 *)at;
    return (reg_t)(uint16_t)((unsigned)p[0] << 8 | (unsigned)p[1]);
}
CJ_INLINE reg_t cj_be32_load(uintptr_t at) {
    return cj_be32_at((const cj_u8 *)at);
}
CJ_INLINE reg_t cj_be64_load(uintptr_t at) {
    const cj_u8 *p = (const cj_u8 *)at;
    return (reg_t)cj_be32_at(p) << 32 | cj_be32_at(p + 4);
}

#endif
