/* tiered_tasks.c — memory budgets in tiers, the way an interpreter uses them: every call frame gets a
   budget chosen from a few fixed sizes by an estimate, lives entirely inside it, reruns one tier up
   when the estimate was too low, and gives everything back at once when it returns.

   The interpreter runs a tiny stack bytecode with nested (recursive) calls. A call frame needs memory
   for its locals, an analysis table (the operand-stack depth at each instruction, which sizes the
   operand stack), the operand stack, and scratch for heavy instructions whose need depends on the
   data (PRIMES sieves n bytes). None of that outlives the call, so:
   - Budgets: 4, 8, 16, 32 or 64 KiB, picked from the callee's bytecode size (a guess: it cannot see
     the data). The budgets are cut LIFO from one arena, the interpreter's stack: a call takes its
     budget on top, and its return rewinds the stack to where it was, which releases the budget and
     everything in it (the callee's own calls included) in one store. No per-object free exists.
   - Inside a budget, a fixed arena (fa_arena_init): allocation is a pointer bump, and a full arena
     answers NULL (ENOMEM) instead of touching anyone else's memory. That failure is the signal to
     rerun the call one tier up; past 64 KiB the call fails ("out of budget") and the caller sees it.
   - A function that needs malloc/free semantics inside its frame (DISTINCT grows a hash table: it
     allocates the bigger table, moves the entries and frees the old one) gets a heap instead: a
     region heap (fa_heap_new_in_region) over a budget of 64, 128 or 256 KiB, cut from the same
     stack at whatever address is on top, and fa_heap_destroy at the end, whatever is still live.
   The program checks every result against plain C and every escalation count against what it
   expects; it exits non-zero if any differs. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { PUSH, ARG, ADD, SUB, MUL, LT, JZ, JMP, CALL, RET, PRIMES, DISTINCT };
typedef struct { enum op op; int arg; } insn_t;
typedef struct {
    const char* name;
    const insn_t* code;
    int len, params;
    int needs_heap;               /* uses DISTINCT: its frame wants malloc/free, so a region heap */
} func_t;

enum { F_FIB, F_PRIMES, F_DISTINCT, F_CHAIN, F_MIX, F_COUNT };
static const insn_t fib_code[] = {            /* fib(n) = n < 2 ? n : fib(n-1) + fib(n-2) */
    {ARG, 0}, {PUSH, 2}, {LT, 0}, {JZ, 6}, {ARG, 0}, {RET, 0},
    {ARG, 0}, {PUSH, 1}, {SUB, 0}, {CALL, F_FIB}, {ARG, 0}, {PUSH, 2}, {SUB, 0}, {CALL, F_FIB},
    {ADD, 0}, {RET, 0}};
static const insn_t primes_code[] = {{ARG, 0}, {PRIMES, 0}, {RET, 0}};       /* primes below n */
static const insn_t distinct_code[] = {{ARG, 0}, {DISTINCT, 0}, {RET, 0}};   /* see distinct() */
static const insn_t mix_code[] = {            /* mix(n) = fib(n) + primes(1000 n) + distinct(100 n) */
    {ARG, 0}, {CALL, F_FIB}, {ARG, 0}, {PUSH, 1000}, {MUL, 0}, {CALL, F_PRIMES}, {ADD, 0},
    {ARG, 0}, {PUSH, 100}, {MUL, 0}, {CALL, F_DISTINCT}, {ADD, 0}, {RET, 0}};
static insn_t chain_code[2 + 2 * 300];        /* chain(n) = n + 1 + 1 ... (300 times): generated code */
static func_t funcs[F_COUNT] = {
    {"fib", fib_code, 16, 1, 0}, {"primes", primes_code, 3, 1, 0}, {"distinct", distinct_code, 3, 1, 1},
    {"chain", chain_code, 602, 1, 0}, {"mix", mix_code, 13, 1, 0}};

#define KiB ((size_t)1024)
static const size_t arena_tier[] = {4 * KiB, 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB};
/* Region heaps from 64 KiB: bookkeeping and page rounding take ~13 KiB of a region (80 % of 64 KiB is
   left for 32-byte blocks; ~9 KiB and 86 % with FASTALLOC_PAGE_LINES 1), and a block above 32 KiB
   takes whole 64 KiB windows of it. */
static const size_t heap_tier[] = {64 * KiB, 128 * KiB, 256 * KiB};
static fa_arena_t* stack;                     /* the interpreter's stack: every frame's budget */
static unsigned long escalations;             /* reruns one tier up, over the whole run */

/* A frame's memory: an arena, or a region heap. Both say NULL when the budget is exhausted. */
typedef struct { fa_arena_t* arena; fa_heap_t* heap; } frame_t;
static void* frame_alloc(frame_t* f, size_t n) {
    return f->heap ? fa_heap_malloc(f->heap, n) : fa_arena_alloc(f->arena, n);
}

enum { OK, FULL, FAIL };   /* FULL: this frame's budget ran out (rerun it); FAIL: give up */
static int call(int fn, const int64_t* args, int64_t* result);

/* DISTINCT: how many different values n pseudo-random 20-bit numbers take, counted in a hash set
   that doubles when half full. Growing means malloc the new table and free the old one: what an
   arena cannot do (its old table would stay until the reset), so this frame runs in a heap. */
static int distinct(frame_t* f, int64_t n, int64_t* out) {
    size_t cap = 64, count = 0;
    uint32_t* set = fa_heap_zalloc(f->heap, cap * sizeof *set), x = 1;
    if (set == NULL) return FULL;
    for (int64_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t v = ((x >> 8) & 0xfffff) + 1, h = v * 2654435761u;   /* + 1: 0 marks a free slot */
        size_t s = h & (cap - 1);
        while (set[s] != 0 && set[s] != v) s = (s + 1) & (cap - 1);
        if (set[s] == v) continue;
        set[s] = v;
        if (2 * ++count <= cap) continue;
        uint32_t* bigger = fa_heap_zalloc(f->heap, 2 * cap * sizeof *bigger);
        if (bigger == NULL) return FULL;     /* no free needed: fa_heap_destroy takes it all */
        for (size_t k = 0; k < cap; k++) {
            if (set[k] == 0) continue;
            size_t t = (set[k] * 2654435761u) & (2 * cap - 1);
            while (bigger[t] != 0) t = (t + 1) & (2 * cap - 1);
            bigger[t] = set[k];
        }
        fa_free(set);                        /* the old table goes back to the frame's heap now */
        set = bigger;
        cap *= 2;
    }
    *out = (int64_t)count;
    return OK;
}

/* PRIMES: primes below n by a sieve of n bytes: scratch for one instruction, so it goes back (a
   rewind in an arena, a free in a heap) before the next one runs. */
static int primes(frame_t* f, int64_t n, int64_t* out) {
    size_t mark = f->arena ? fa_arena_mark(f->arena) : 0;
    unsigned char* composite = frame_alloc(f, (size_t)n + 1);
    if (composite == NULL) return FULL;
    memset(composite, 0, (size_t)n + 1);
    int64_t count = 0;
    for (int64_t i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (int64_t k = i * i; k < n; k += i) composite[k] = 1;
    }
    if (f->arena) fa_arena_rewind(f->arena, mark); else fa_free(composite);
    *out = count;
    return OK;
}

/* Runs one call of `fn` inside the frame memory f. */
static int run(int fn, frame_t* f, const int64_t* args, int64_t* result) {
    const func_t* fun = &funcs[fn];
    int64_t* locals = frame_alloc(f, (size_t)fun->params * sizeof *locals);
    short* depth = frame_alloc(f, (size_t)fun->len * sizeof *depth);
    if (locals == NULL || depth == NULL) return FULL;
    memcpy(locals, args, (size_t)fun->params * sizeof *locals);
    /* Analysis: the stack depth before each instruction, in one forward pass (jumps go forward;
       after JMP or RET the next instruction is reached only by a jump, which recorded its depth). */
    int cur = 0, max = 0;
    for (int pc = 0; pc < fun->len; pc++) depth[pc] = -1;
    for (int pc = 0; pc < fun->len; pc++) {
        const insn_t* in = &fun->code[pc];
        if (depth[pc] >= 0) cur = depth[pc];
        depth[pc] = (short)cur;
        switch (in->op) {
        case PUSH: case ARG: cur++; break;
        case ADD: case SUB: case MUL: case LT: case JZ: case RET: cur--; break;
        case CALL: cur += 1 - funcs[in->arg].params; break;
        default: break;                                 /* JMP, PRIMES, DISTINCT: no change */
        }
        if (cur < 0) return FAIL;
        if (in->op == JZ || in->op == JMP) depth[in->arg] = (short)cur;
        if (cur > max) max = cur;
    }
    int64_t* st = frame_alloc(f, (size_t)max * sizeof *st);   /* the operand stack, sized exactly */
    if (st == NULL) return FULL;
    int sp = 0, r = OK;
    for (int pc = 0; r == OK; pc++) {
        const insn_t* in = &fun->code[pc];
        switch (in->op) {
        case PUSH: st[sp++] = in->arg; break;
        case ARG: st[sp++] = locals[in->arg]; break;
        case ADD: sp--; st[sp - 1] += st[sp]; break;
        case SUB: sp--; st[sp - 1] -= st[sp]; break;
        case MUL: sp--; st[sp - 1] *= st[sp]; break;
        case LT: sp--; st[sp - 1] = st[sp - 1] < st[sp]; break;
        case JZ: if (st[--sp] == 0) pc = in->arg - 1; break;
        case JMP: pc = in->arg - 1; break;
        case CALL: sp -= funcs[in->arg].params; r = call(in->arg, &st[sp], &st[sp]); sp++; break;
        case RET: *result = st[--sp]; return OK;
        case PRIMES: r = primes(f, st[sp - 1], &st[sp - 1]); break;
        case DISTINCT: r = distinct(f, st[sp - 1], &st[sp - 1]); break;
        }
    }
    return r;
}

/* A call: pick a tier from the bytecode size, take a budget on top of the stack, run, and rewind.
   FULL reruns one tier up; a callee's FAIL is the caller's FAIL too, never a reason to rerun it. A
   real interpreter would also remember which tier a function needed; this one keeps it simple. */
static int call(int fn, const int64_t* args, int64_t* result) {
    const func_t* fun = &funcs[fn];
    const size_t* tier = fun->needs_heap ? heap_tier : arena_tier;
    int tiers = fun->needs_heap ? 3 : 5, t = 0;
    size_t estimate = 1024 + 48 * (size_t)fun->len, mark = fa_arena_mark(stack);
    while (t < tiers - 1 && tier[t] < estimate) t++;
    for (;; t++) {
        void* budget = fa_arena_alloc(stack, tier[t]);
        if (budget == NULL) return FAIL;                         /* the interpreter's stack overflowed */
        frame_t f = {NULL, NULL};
        if (fun->needs_heap) f.heap = fa_heap_new_in_region(budget, tier[t]);
        else f.arena = fa_arena_init(budget, tier[t]);
        int r = f.heap || f.arena ? run(fn, &f, args, result) : FAIL;
        if (f.heap) fa_heap_destroy(f.heap);    /* the region is plain memory again, whatever was live */
        fa_arena_rewind(stack, mark);           /* the budget, and every callee's, goes back at once */
        if (r != FULL) return r;
        if (t == tiers - 1) return FAIL;        /* out of budget at the top tier */
        escalations++;
    }
}

/* The same numbers in plain C. */
static int64_t ref_fib(int64_t n) { int64_t a = 0, b = 1; while (n-- > 0) { b += a; a = b - a; } return a; }
static int64_t ref_primes(int64_t n) {
    int64_t count = 0;
    for (int64_t i = 2; i < n; i++) { int64_t d = 2; while (d * d <= i && i % d) d++; count += d * d > i; }
    return count;
}
static int64_t ref_distinct(int64_t n) {
    static unsigned char seen[1 << 20];
    uint32_t x = 1;
    int64_t count = 0;
    memset(seen, 0, sizeof seen);
    while (n-- > 0) { x = x * 1103515245u + 12345u; count += !seen[(x >> 8) & 0xfffff]; seen[(x >> 8) & 0xfffff] = 1; }
    return count;
}

int main(void) {
    chain_code[0] = (insn_t){ARG, 0};
    for (int i = 0; i < 300; i++) { chain_code[1 + 2 * i] = (insn_t){PUSH, 1}; chain_code[2 + 2 * i] = (insn_t){ADD, 0}; }
    chain_code[601] = (insn_t){RET, 0};
    /* The stack: one static array, no alignment asked (budgets and regions may sit anywhere). */
    static unsigned char stack_memory[1 << 20];
    stack = fa_arena_init(stack_memory, sizeof stack_memory);
    if (stack == NULL) return 1;

    /* Each test: a call, the result plain C expects (or -1: the call must fail), and the reruns. */
    const struct { int fn; int64_t arg, want; unsigned long reruns; const char* why; } tests[] = {
        {F_FIB, 20, ref_fib(20), 0, "21891 nested calls, each in a 4 KiB arena"},
        {F_CHAIN, 5, 305, 0, "long generated code: the estimate picks 32 KiB at once"},
        {F_PRIMES, 30000, ref_primes(30000), 3, "a 30 KB sieve: 4 -> 8 -> 16 -> 32 KiB"},
        {F_PRIMES, 60000, ref_primes(60000), 4, "a 60 KB sieve: up to 64 KiB"},
        {F_PRIMES, 70000, -1, 4, "a 70 KB sieve: out of budget at 64 KiB, fails"},
        {F_DISTINCT, 1500, ref_distinct(1500), 0, "tables up to 16 KB: the 64 KiB region heap"},
        {F_DISTINCT, 3000, ref_distinct(3000), 1, "32 KB beside the old 16 KB: 64 -> 128 KiB"},
        {F_DISTINCT, 6000, ref_distinct(6000), 2, "64 KB: whole 64 KiB windows, 64 -> 256 KiB"},
        {F_MIX, 12, ref_fib(12) + ref_primes(12000) + ref_distinct(1200), 2, "fib, primes (16 KiB), distinct nested"},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int64_t result = -1, arg = tests[i].arg;
        unsigned long before = escalations;
        int r = call(tests[i].fn, &arg, &result);
        if (r != OK) result = -1;
        int ok = result == tests[i].want && escalations - before == tests[i].reruns && fa_arena_used(stack) == 0;
        wrong += !ok;
        printf("tiered_tasks: %-8s(%6lld) = %5lld, %lu reruns one tier up  %s  %s\n", funcs[tests[i].fn].name,
               (long long)arg, (long long)result, escalations - before, ok ? "ok   " : "WRONG", tests[i].why);
    }
    printf("tiered_tasks: %s\n", wrong ? "FAILED" : "every result and escalation count as expected");
    return wrong != 0;
}
