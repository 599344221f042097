/* lmgen n-gram kernel: the two loops NumPy cannot vectorize.
 *
 *  1. words: text -> word ids. Splits UTF-8 text on ASCII whitespace (lines on '\n') and
 *     looks every word up in an open-addressing hash table (FNV-1a, strings compared exactly).
 *     In "add" mode unknown words get the next id (training); otherwise they come out as -1.
 *  2. keys: int64 n-gram keys -> their index in the sorted key array, by hashing instead of
 *     binary search.
 *
 * Plain C ABI, loaded with ctypes (no Python.h); lmgen falls back to NumPy without it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const unsigned char *s, int64_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t h) { /* murmur3 finalizer */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* ------------------------------------------------------------------ words */
typedef struct {
    int64_t cap;   /* slots, a power of two, kept under 50% full */
    int64_t n;     /* words stored (ids 0..n-1) */
    int64_t *slot; /* id + 1, 0 = empty */
    uint64_t *hash;
    int64_t *off; /* start of each word in buf */
    int64_t *len;
    char *buf;
    int64_t buf_len, buf_cap, ids_cap;
} words_t;

static int words_grow_slots(words_t *w) {
    int64_t cap = w->cap * 2;
    int64_t *slot = calloc((size_t)cap, sizeof(int64_t));
    if (!slot) return -1;
    for (int64_t id = 0; id < w->n; id++) {
        int64_t i = (int64_t)(w->hash[id] & (uint64_t)(cap - 1));
        while (slot[i]) i = (i + 1) & (cap - 1);
        slot[i] = id + 1;
    }
    free(w->slot);
    w->slot = slot;
    w->cap = cap;
    return 0;
}

void words_free(void *handle) {
    words_t *w = handle;
    if (!w) return;
    free(w->slot);
    free(w->hash);
    free(w->off);
    free(w->len);
    free(w->buf);
    free(w);
}

void *words_new(int64_t expected) {
    words_t *w = calloc(1, sizeof(words_t));
    if (!w) return NULL;
    w->cap = 1024;
    while (w->cap < 2 * expected) w->cap *= 2;
    w->ids_cap = expected > 16 ? expected : 16;
    w->buf_cap = 8 * w->ids_cap;
    w->slot = calloc((size_t)w->cap, sizeof(int64_t));
    w->hash = malloc((size_t)w->ids_cap * sizeof(uint64_t));
    w->off = malloc((size_t)w->ids_cap * sizeof(int64_t));
    w->len = malloc((size_t)w->ids_cap * sizeof(int64_t));
    w->buf = malloc((size_t)w->buf_cap);
    if (!w->slot || !w->hash || !w->off || !w->len || !w->buf) {
        words_free(w);
        return NULL;
    }
    return w;
}

/* id of s[0:n]; inserts it when add != 0. Returns -1 when absent (and not added), -2 on OOM. */
static int64_t words_id(words_t *w, const char *s, int64_t n, int add) {
    uint64_t h = mix64(fnv1a((const unsigned char *)s, n));
    int64_t i = (int64_t)(h & (uint64_t)(w->cap - 1));
    for (;;) {
        int64_t id = w->slot[i] - 1;
        if (id < 0) break;
        if (w->hash[id] == h && w->len[id] == n && memcmp(w->buf + w->off[id], s, (size_t)n) == 0) return id;
        i = (i + 1) & (w->cap - 1);
    }
    if (!add) return -1;
    if (w->n == w->ids_cap) {
        int64_t c = w->ids_cap * 2;
        uint64_t *hh = realloc(w->hash, (size_t)c * sizeof(uint64_t));
        if (!hh) return -2;
        w->hash = hh;
        int64_t *oo = realloc(w->off, (size_t)c * sizeof(int64_t));
        if (!oo) return -2;
        w->off = oo;
        int64_t *ll = realloc(w->len, (size_t)c * sizeof(int64_t));
        if (!ll) return -2;
        w->len = ll;
        w->ids_cap = c;
    }
    if (w->buf_len + n > w->buf_cap) {
        int64_t c = 2 * (w->buf_cap + n);
        char *b = realloc(w->buf, (size_t)c);
        if (!b) return -2;
        w->buf = b;
        w->buf_cap = c;
    }
    int64_t id = w->n++;
    memcpy(w->buf + w->buf_len, s, (size_t)n);
    w->hash[id] = h;
    w->off[id] = w->buf_len;
    w->len[id] = n;
    w->buf_len += n;
    w->slot[i] = id + 1;
    if (2 * w->n > w->cap && words_grow_slots(w) != 0) return -2;
    return id;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }

/* Split text into words and write their ids. line_counts[k] += words on line k (lines end at
 * '\n'). Returns the number of words, -1 when ids_cap or n_lines is too small, -2 on OOM. */
int64_t words_encode(void *handle, const char *text, int64_t len, int add, int64_t *ids, int64_t ids_cap,
                     int64_t *line_counts, int64_t n_lines) {
    words_t *w = handle;
    int64_t count = 0, line = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (is_space(c)) {
            if (c == '\n' && ++line >= n_lines) return -1;
            i++;
            continue;
        }
        int64_t start = i;
        while (i < len && !is_space((unsigned char)text[i])) i++;
        if (count >= ids_cap) return -1;
        int64_t id = words_id(w, text + start, i - start, add);
        if (id == -2) return -2;
        ids[count++] = id;
        line_counts[line]++;
    }
    return count;
}

int64_t words_count(void *handle) { return ((words_t *)handle)->n; }
int64_t words_bytes(void *handle) { return ((words_t *)handle)->buf_len; }

/* The stored words in id order: their bytes (concatenated) and n + 1 offsets. */
void words_export(void *handle, char *buf, int64_t *offsets) {
    words_t *w = handle;
    memcpy(buf, w->buf, (size_t)w->buf_len);
    for (int64_t id = 0; id < w->n; id++) offsets[id] = w->off[id];
    offsets[w->n] = w->buf_len;
}

/* ------------------------------------------------------------------ keys */
typedef struct {
    int64_t cap;
    int64_t *key;
    int64_t *pos; /* -1 = empty */
} keys_t;

void keys_free(void *handle) {
    keys_t *t = handle;
    if (!t) return;
    free(t->key);
    free(t->pos);
    free(t);
}

/* A table of distinct int64 keys -> their index in the given array. */
void *keys_new(const int64_t *keys, int64_t n) {
    keys_t *t = calloc(1, sizeof(keys_t));
    if (!t) return NULL;
    t->cap = 16;
    while (t->cap < 2 * n) t->cap *= 2;
    t->key = malloc((size_t)t->cap * sizeof(int64_t));
    t->pos = malloc((size_t)t->cap * sizeof(int64_t));
    if (!t->key || !t->pos) {
        keys_free(t);
        return NULL;
    }
    for (int64_t i = 0; i < t->cap; i++) t->pos[i] = -1;
    for (int64_t j = 0; j < n; j++) {
        int64_t i = (int64_t)(mix64((uint64_t)keys[j]) & (uint64_t)(t->cap - 1));
        while (t->pos[i] >= 0) i = (i + 1) & (t->cap - 1);
        t->key[i] = keys[j];
        t->pos[i] = j;
    }
    return t;
}

/* out[j] = index of needles[j], or -1. Negative needles are absent by definition. */
void keys_find(void *handle, const int64_t *needles, int64_t n, int64_t *out) {
    keys_t *t = handle;
    for (int64_t j = 0; j < n; j++) {
        int64_t k = needles[j], found = -1;
        if (k >= 0) {
            int64_t i = (int64_t)(mix64((uint64_t)k) & (uint64_t)(t->cap - 1));
            while (t->pos[i] >= 0) {
                if (t->key[i] == k) {
                    found = t->pos[i];
                    break;
                }
                i = (i + 1) & (t->cap - 1);
            }
        }
        out[j] = found;
    }
}
