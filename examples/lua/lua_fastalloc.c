/* examples/lua/lua_fastalloc.c: Lua 5.4 on fastalloc, one first-class heap per lua_State.
 *
 * A lua_State is used by one thread at a time, the one that made it here: that is the heap's thread
 * rule. fa_lua_close runs lua_close (finalizers, __close, every object freed) and then destroys the
 * heap, so whatever was left (nothing, or a leak in a C module) goes back in one call.
 *
 *   lua_fastalloc fa|default SCRIPT [N]    runs SCRIPT (global N = N) and prints what it returns;
 *                                          fa: lua_newstate(fa_lua_alloc, heap), default: luaL_newstate
 * Build: cc -O2 -I. examples/lua/lua_fastalloc.c $(pkg-config --cflags --libs lua5.4)   (liblua5.4-dev)
 */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lua_Alloc: nsize 0 frees (ptr may be NULL), anything else is a realloc from the state's heap. */
static void* fa_lua_alloc(void* heap, void* ptr, size_t osize, size_t nsize) {
    (void)osize;
    if (nsize == 0) {
        fa_free(ptr);
        return NULL;
    }
    return fa_heap_realloc((fa_heap_t*)heap, ptr, nsize);
}

static int fa_lua_panic(lua_State* L) {
    fprintf(stderr, "lua panic: %s\n", lua_tostring(L, -1));
    return 0;   /* then Lua aborts */
}

lua_State* fa_lua_newstate(void) {
    fa_heap_t* heap = fa_heap_new();
    if (heap == NULL) return NULL;
    lua_State* L = lua_newstate(fa_lua_alloc, heap);
    if (L == NULL) {
        fa_heap_destroy(heap);
        return NULL;
    }
    lua_atpanic(L, fa_lua_panic);
    return L;
}

void fa_lua_close(lua_State* L) {
    void* heap;
    lua_getallocf(L, &heap);
    lua_close(L);
    fa_heap_destroy((fa_heap_t*)heap);
}

int main(int argc, char** argv) {
    if (argc < 3 || (strcmp(argv[1], "fa") != 0 && strcmp(argv[1], "default") != 0)) {
        fprintf(stderr, "usage: %s fa|default SCRIPT [N]\n", argv[0]);
        return 2;
    }
    bool fa = strcmp(argv[1], "fa") == 0;
    lua_State* L = fa ? fa_lua_newstate() : luaL_newstate();
    if (L == NULL) return 1;
    luaL_openlibs(L);
    if (argc > 3) {
        lua_pushinteger(L, strtol(argv[3], NULL, 10));
        lua_setglobal(L, "N");
    }
    int rc = 0;
    if (luaL_dofile(L, argv[2]) != LUA_OK || !lua_isstring(L, -1)) {
        fprintf(stderr, "%s: %s\n", argv[2], lua_isstring(L, -1) ? lua_tostring(L, -1) : "no string result");
        rc = 1;
    } else {
        printf("%s\n", lua_tostring(L, -1));
    }
    if (fa) fa_lua_close(L); else lua_close(L);
    return rc;
}
