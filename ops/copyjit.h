/*
 * copyjit.h: the one signature every op shares, and the three things an op
 * can do besides compute: continue with the next op, jump to a target, and
 * read one of its immediate slots.
 *
 * Every op is a C function `reg_t op(reg_t r0, reg_t r1, reg_t r2, reg_t r3)`.
 * The four pseudo-registers are the four arguments, so on every supported
 * target they live in machine registers (or, on 32-bit targets, in register
 * pairs and the caller's argument area) from one op to the next. Four is the
 * most that s390x and arm32 can pass in registers and still tail-call.
 *
 * An op instance is generated per register assignment by build.rs as
 *
 *     #define SELF <op name>
 *     #define DST r0 ...        (the family's parameters)
 *     #include "<family>.c"
 *
 * and the linker script gives every op its own symbols:
 *   SELF__next   the first byte after the op: the continuation, reached by
 *                a tail call that becomes a jump (or nothing, once build.rs
 *                strips it);
 *   SELF__immK   the K-th 8-byte data slot, at a fixed distance from the
 *                op's first byte in the data block beside its code block
 *                (src/layout.rs), read PC-relatively (IMM(k), CJ_SLOT(k))
 *                and filled in by the emitter at run time.
 * Both are hidden so the compiler addresses them directly, never through a
 * GOT or PLT.
 */
#ifndef COPYJIT_H
#define COPYJIT_H

#include <stdint.h>

typedef uint64_t reg_t;

#define CJ_PARAMS reg_t r0, reg_t r1, reg_t r2, reg_t r3
#define CJ_ARGS r0, r1, r2, r3

typedef reg_t (*cj_fn)(CJ_PARAMS);

/* A tail call the compiler must honour where it can be told so (clang). */
#if defined(__has_attribute)
#if __has_attribute(musttail)
#define CJ_MUSTTAIL __attribute__((musttail))
#endif
#endif
#ifndef CJ_MUSTTAIL
#define CJ_MUSTTAIL
#endif

#define CJ_HIDDEN __attribute__((visibility("hidden")))
#define CJ_CAT_(a, b) a##b
#define CJ_CAT(a, b) CJ_CAT_(a, b)

/* The op's own symbols, named after SELF. */
#define CJ_NEXT_SYM CJ_CAT(SELF, __next)
#define CJ_IMM_SYM(k) CJ_CAT(CJ_CAT(SELF, __imm), k)

/* Declares the op's continuation and slots, then opens its definition. */
#define OP                                                                     \
    extern reg_t CJ_NEXT_SYM(CJ_PARAMS) CJ_HIDDEN;                             \
    extern const reg_t CJ_IMM_SYM(0) CJ_HIDDEN;                                \
    extern const reg_t CJ_IMM_SYM(1) CJ_HIDDEN;                                \
    extern const reg_t CJ_IMM_SYM(2) CJ_HIDDEN;                                \
    reg_t SELF(CJ_PARAMS)

/* The address of slot k. */
#if defined(__i386__)
/* i686 has no PC-relative data addressing. Position-independent code finds
 * its own address with a helper function outside the op
 * (__x86.get_pc_thunk.*) and absolute code holds absolute addresses, so the
 * ops are built without -fpic and take the slot's address from the return
 * address of a call to the next instruction, plus the distance from there to
 * the slot (a PC-relative relocation). */
#define CJ_SLOT(k)                                                             \
    __extension__({                                                            \
        const reg_t *cj_slot_;                                                 \
        __asm__("call 1f\n1:\tpopl %0\n\taddl $%c1-1b, %0"                     \
                : "=r"(cj_slot_)                                               \
                : "i"(&CJ_IMM_SYM(k)));                                        \
        cj_slot_;                                                              \
    })
#else
#define CJ_SLOT(k) (&CJ_IMM_SYM(k))
#endif

/* The value in slot k. */
#define IMM(k) (*CJ_SLOT(k))

/* Continue with the op placed right after this one. */
#define NEXT() CJ_MUSTTAIL return CJ_NEXT_SYM(CJ_ARGS)

/*
 * An op that reads and writes no register can leave them where they are
 * without naming them: it takes no arguments and continues with a call that
 * passes none, so its code is its work and one jump. With the four registers
 * as arguments, clang on armv7 would load and store back the two that are
 * passed on the stack, making the no-op ten instructions long and the empty
 * op more than the jump build.rs strips.
 */
#define OP_THROUGH                                                             \
    extern void CJ_NEXT_SYM(void) CJ_HIDDEN;                                   \
    void SELF(void)
#define NEXT_THROUGH() CJ_MUSTTAIL return CJ_NEXT_SYM()

/* The code address a slot points at: the slot's own address plus its value,
 * so generated code stays position-independent. */
static inline __attribute__((always_inline)) cj_fn cj_target(const reg_t *slot) {
    return (cj_fn)((const char *)slot + (int64_t)*slot);
}
#define TARGET(k) cj_target(CJ_SLOT(k))

/* Continue at the target held in slot k. */
#define JUMP(k) CJ_MUSTTAIL return TARGET(k)(CJ_ARGS)

/* Memory access types that may alias anything. */
typedef uint8_t __attribute__((may_alias)) cj_u8;
typedef uint16_t __attribute__((may_alias)) cj_u16;
typedef uint32_t __attribute__((may_alias)) cj_u32;
typedef uint64_t __attribute__((may_alias)) cj_u64;
typedef int8_t __attribute__((may_alias)) cj_i8;
typedef int16_t __attribute__((may_alias)) cj_i16;
typedef int32_t __attribute__((may_alias)) cj_i32;

/* The address a register plus offset names (truncated on 32-bit targets). */
#define CJ_ADDR(base, offset) ((uintptr_t)((base) + (offset)))

/* The shortest machine no-op (s390x's `nop` is 4 bytes, `nopr` 2). */
#if defined(__s390x__)
#define CJ_NOP_ASM "nopr %r0"
#else
#define CJ_NOP_ASM "nop"
#endif

#include "semantics.h"

#endif
