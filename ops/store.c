/* Memory of TYPE at BASE + slot 0 = the low bits of SRC. */
OP {
    *(TYPE *)CJ_ADDR(BASE, IMM(0)) = (TYPE)SRC;
    NEXT();
}
