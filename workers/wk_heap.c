/* workers/wk_heap.c -- the memory of a Lua state. Lua tells the allocator every block's size
 * when it frees or resizes it, so small blocks need no headers: they come from size classes
 * carved out of chunks, and a dropped state's chunks serve the next state. A fresh state per
 * analysis makes thousands of small allocations; this keeps them off the C library's malloc.
 * The budget that limits them lives in wk_sandbox.c. A state may start in a slot's region,
 * memory at an address of its own where its image is made and copied back (wk_sandbox.c,
 * "Images"): large blocks there are carved like small ones while the image is made, and are
 * never given to free(). A state is dropped without lua_close (wk__sandbox_close): its chunks
 * go back whole, and its large blocks outside the region, which are linked for it, with them. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "wk_internal.h"

#define CLASS_BYTES 16
#define CHUNK_BYTES (16 * 1024)
#define MAX_SPARE   128 /* chunks kept for later states: 2 MiB */
/* A slot's region: segments of a chunk's size, the first holding the fresh state (about 13 KiB),
 * the rest its first growth. */
#define REGION_BYTES (2 * CHUNK_BYTES)
/* Slots an engine makes at most (a worker child needs about as many as it runs analyses at
 * once): beyond, states are built each time. Each holds at most 96 KiB: its region, the fresh
 * image and the loaded one. */
#define SLOTS_MAX 256

typedef struct chunk {
    struct chunk *next;
    char pad[CLASS_BYTES - sizeof(struct chunk *)]; /* keeps blocks 16-byte aligned */
} chunk;

/* The header of a large block from malloc: its neighbours in the state's list (wk_heap.bigs).
 * Sixteen bytes, so that the block after it keeps malloc's alignment. */
typedef struct big {
    struct big *prev, *next;
} big;
_Static_assert(sizeof(big) % 16 == 0, "a large block after its header keeps malloc's alignment");

static void big_link(wk_heap *h, big *b) {
    b->prev = NULL;
    b->next = h->bigs;
    if (h->bigs)
        h->bigs->prev = b;
    h->bigs = b;
}

static void big_unlink(wk_heap *h, big *b) {
    if (b->prev)
        b->prev->next = b->next;
    else
        h->bigs = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static size_t class_of(size_t size) {
    return (size - 1) / CLASS_BYTES;
}

static int is_small(size_t size) {
    return size <= WK_HEAP_SMALL;
}

/* Counts what the state holds of the process' memory: chunks and large blocks. */
static void account(wk_heap *h, size_t plus, size_t minus) {
    h->reserved = h->reserved + plus - minus;
    if (h->reserved > h->reserved_peak)
        h->reserved_peak = h->reserved;
}

/* Whether the state may take 'more' bytes of the process' memory. Free blocks of one size class
 * serve no other, so a state could otherwise hold far more than its budget. */
static int may_reserve(const wk_heap *h, size_t more) {
    return h->reserved + more <= h->cap;
}

static int in_region(const wk_heap *h, const void *p) {
    return h->region && (const char *)p >= h->region && (const char *)p < h->region + REGION_BYTES;
}

static int new_chunk(wk_heap *h) {
    chunk *c = h->engine->spare;
    if (!may_reserve(h, CHUNK_BYTES))
        return -1;
    if (h->region_next && h->region_next < h->region + REGION_BYTES) {
        account(h, CHUNK_BYTES, 0);
        h->next = h->region_next;
        h->end = h->region_next += CHUNK_BYTES;
        return 0;
    }
    h->escaped |= h->building;
    if (c) {
        h->engine->spare = c->next;
        h->engine->nspare--;
    } else if (!(c = malloc(CHUNK_BYTES))) {
        return -1;
    }
    c->next = h->chunks;
    h->chunks = c;
    account(h, CHUNK_BYTES, 0);
    h->next = (char *)(c + 1);
    h->end = (char *)c + CHUNK_BYTES;
    return 0;
}

/* 'bytes' from the newest chunk, or from a new one. */
static void *carve(wk_heap *h, size_t bytes) {
    if (h->next + bytes > h->end && new_chunk(h) != 0)
        return NULL;
    void *p = h->next;
    h->next += bytes;
    return p;
}

static void *small_alloc(wk_heap *h, size_t size) {
    size_t k = class_of(size);
    void *p = h->free[k];
    if (p) {
        h->free[k] = *(void **)p;
        return p;
    }
    return carve(h, (k + 1) * CLASS_BYTES);
}

/* While an image is made, large blocks are carved from the region too, so that the image holds
 * the whole state. Freed, such a block stays where it is until the state closes. */
static void *big_alloc(wk_heap *h, size_t size) {
    size_t bytes = (class_of(size) + 1) * CLASS_BYTES;
    if (h->building && !h->escaped && bytes <= CHUNK_BYTES &&
        (h->next + bytes <= h->end || h->region_next < h->region + REGION_BYTES))
        return carve(h, bytes); /* the current chunk is the region's while nothing escaped */
    h->escaped |= h->building;
    if (!may_reserve(h, size))
        return NULL;
    big *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    account(h, size, 0);
    big_link(h, b);
    return b + 1;
}

static void small_free(wk_heap *h, void *p, size_t size) {
    size_t k = class_of(size);
    *(void **)p = h->free[k];
    h->free[k] = p;
}

void *wk__heap_realloc(wk_heap *h, void *ptr, size_t osize, size_t nsize) {
    if (!ptr)
        return is_small(nsize) ? small_alloc(h, nsize) : big_alloc(h, nsize);
    if (is_small(osize) && is_small(nsize) && class_of(osize) == class_of(nsize))
        return ptr;
    if (!is_small(osize) && !is_small(nsize) && !in_region(h, ptr)) {
        if (nsize > osize && !may_reserve(h, nsize - osize))
            return NULL;
        big *b = (big *)ptr - 1;
        big_unlink(h, b);
        big *moved = realloc(b, sizeof *b + nsize);
        big_link(h, moved ? moved : b); /* realloc failed: the block is as it was */
        if (!moved)
            return NULL;
        account(h, nsize, osize);
        return moved + 1;
    }
    void *p = is_small(nsize) ? small_alloc(h, nsize) : big_alloc(h, nsize);
    if (!p)
        return NULL;
    memcpy(p, ptr, osize < nsize ? osize : nsize);
    wk__heap_free(h, ptr, osize);
    return p;
}

void wk__heap_free(wk_heap *h, void *ptr, size_t size) {
    if (!ptr)
        return;
    if (!is_small(size)) {
        if (in_region(h, ptr))
            return;
        big_unlink(h, (big *)ptr - 1);
        free((big *)ptr - 1);
        account(h, 0, size);
    } else {
        small_free(h, ptr, size);
    }
}

void wk__heap_release(wk_heap *h) {
    for (big *b = h->bigs, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    h->bigs = NULL;
    chunk *c = h->chunks;
    while (c) {
        chunk *next = c->next;
        if (h->engine->nspare < MAX_SPARE) {
            c->next = h->engine->spare;
            h->engine->spare = c;
            h->engine->nspare++;
        } else {
            free(c);
        }
        c = next;
    }
    memset(h->free, 0, sizeof h->free);
    h->chunks = NULL;
    h->next = h->end = NULL;
    h->region = h->region_next = NULL;
    h->building = h->escaped = h->refused = 0;
    h->reserved = 0;
}

void wk__heap_drop_spares(wk_engine *engine) {
    while (engine->spare) {
        chunk *c = engine->spare;
        engine->spare = c->next;
        free(c);
    }
    engine->nspare = 0;
    for (size_t i = 0; i < engine->nslots; i++) {
        wk_slot *s = engine->slots[i];
        free(s->region);
        free(s->fresh.bytes);
        free(s->loaded.bytes);
        free(s->loaded_path);
        free(s);
    }
    free(engine->slots);
    engine->slots = NULL;
    engine->free_slots = NULL;
    engine->nslots = 0;
}

wk_slot *wk__slot_take(wk_engine *engine) {
    if (engine->no_images)
        return NULL;
    wk_slot *s = engine->free_slots;
    if (s) {
        engine->free_slots = s->next_free;
        return s;
    }
    if (engine->nslots == SLOTS_MAX)
        return NULL;
    s = rt_xcalloc(1, sizeof *s);
    s->region = rt_xmalloc(REGION_BYTES);
    engine->slots = rt_xrealloc(engine->slots, (engine->nslots + 1) * sizeof *engine->slots);
    engine->slots[engine->nslots++] = s;
    return s;
}

void wk__slot_give(wk_engine *engine, wk_slot *slot) {
    slot->next_free = engine->free_slots;
    engine->free_slots = slot;
}

void wk__heap_enter(wk_heap *h, wk_slot *slot) {
    h->region = h->region_next = slot->region;
    h->building = !slot->fresh.bytes;
}

int wk__heap_save(wk_heap *h, wk_image *image) {
    h->building = 0;
    if (h->escaped || h->refused)
        return -1;
    assert(!h->bigs); /* a block from malloc while building made it escape */
    image->len = (size_t)(h->next - h->region);
    image->bytes = rt_xrealloc(image->bytes, image->len);
    memcpy(image->bytes, h->region, image->len);
    image->heap = *h;
    return 0;
}

void wk__heap_restore(wk_heap *h, const wk_image *image) {
    memcpy(image->heap.region, image->bytes, image->len);
    wk_engine *engine = h->engine;
    size_t cap = h->cap;
    *h = image->heap;
    h->engine = engine;
    h->cap = cap;
    h->reserved_peak = h->reserved;
}
