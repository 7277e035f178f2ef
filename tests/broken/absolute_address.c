/* An op that holds its own absolute address: a copy of it elsewhere would
 * still produce the original address. The word is written with inline
 * assembly, because position-independent C reaches its own address
 * PC-relatively; `.ci/broken-op` builds it for x86_64, where `jmp` skips
 * the word. */
#define CJ_STR_(x) #x
#define CJ_STR(x) CJ_STR_(x)

OP {
    const reg_t *self;
    __asm__("lea 1f(%%rip), %0\n\tjmp 2f\n1:\t.quad " CJ_STR(SELF) "\n2:" : "=r"(self));
    r0 = *self;
    NEXT();
}
