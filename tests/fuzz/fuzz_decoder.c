/*
 * libFuzzer harness for the C core alone (csrc/), and, built with
 * -DFSMR_FUZZ_MAIN, a plain driver that replays corpus files (for valgrind).
 *
 * The input format is the one tests/fuzz/fuzz_input.py documents: a 3-byte
 * control prefix (CRC repair, limits, chunking) and then the stream.
 *
 * Each stream is decoded three times, in the fuzzer's chunks, in one piece,
 * and in one piece with every payload delivered in a buffer of the caller's
 * (buffer_payloads_from = 1), and all runs must agree. Every chunk and every
 * payload buffer is a heap block of exactly its size, so AddressSanitizer (or
 * valgrind) sees any access past the bytes the decoder was given. Every
 * message is checked against the stream itself: its header block and payload
 * must be the very bytes at its offset, and its CRC must match what every
 * available CRC implementation computes for them, checksumming alone and
 * copying (with and without streaming stores) into an exact-size block. Large
 * payloads are written around the cache from 256 bytes on here (1 MiB in the
 * library), so that short inputs reach that path too.
 *
 * An HTTP-chunked stream (control bit 7) is de-chunked first, likewise twice
 * with the same checks on agreement and heap blocks (the output buffer too is
 * exactly as long as the chunk), and the data read is then fuzzed as the
 * stream of the same input with bit 7 clear.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc \
 *       tests/fuzz/fuzz_decoder.c csrc/crc32.c csrc/chunked.c -o fuzz_decoder
 *   gcc -g -O1 -DFSMR_FUZZ_MAIN -Icsrc tests/fuzz/fuzz_decoder.c csrc/crc32.c csrc/chunked.c -o replay
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The decoder's one allocation goes through a hook that can be made to fail
   (control bit 6), to exercise the out-of-memory path. */
static int fail_alloc;
static void *fuzz_realloc(void *p, size_t n);
#define realloc fuzz_realloc
#define FSMR_LARGE_PAYLOAD 256u
#include "eventstream.c"
#undef realloc

static void *fuzz_realloc(void *p, size_t n)
{
    return fail_alloc ? NULL : realloc(p, n);
}

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_decoder.c:%d: check failed: %s\n", __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static const uint32_t limits[4][2] = {
    {128u * 1024u, 24u * 1024u * 1024u}, {64, 256}, {0, 0}, {1024, 65536}};
static const size_t chunk_caps[8] = {1, 2, 3, 8, 13, 64, 4096, 0};

typedef struct {
    uint64_t offset;
    uint32_t total_length, headers_length, payload_length, prelude_crc, crc;
    fsmr_error_code header_code; /* fsmr_validate_headers' verdict */
    uint64_t header_digest;
} record;

typedef struct {
    record *records;
    size_t count, capacity;
    int failed;      /* the run ended with FSMR_ERROR */
    fsmr_error err;
    uint32_t have;   /* bytes left buffered at the end */
} outcome;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    size_t i;
    for (i = 0; i < n; i++) {
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    }
    return h;
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void repair_crcs(uint8_t *s, size_t n)
{
    size_t pos = 0;
    while (n - pos >= 12) {
        uint32_t total = be32_at(s + pos);
        put_be32(s + pos + 8, fsmr_crc32_using(FSMR_CRC32_TABLE, 0, s + pos, 8));
        if (total < 16 || total > n - pos) {
            break;
        }
        put_be32(s + pos + total - 4, fsmr_crc32_using(FSMR_CRC32_TABLE, 0, s + pos, total - 4));
        pos += total;
    }
}

/* Walk the header block with fsmr_next_header: every pointer it hands out must
   stay inside the block, and the walk must agree with fsmr_validate_headers. */
static void check_headers(const uint8_t *block, uint32_t length, record *r)
{
    fsmr_error err, walk_err;
    uint32_t pos = 0;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    fsmr_error_code code = FSMR_OK;
    memset(&err, 0, sizeof(err));
    memset(&walk_err, 0, sizeof(walk_err));
    r->header_code = fsmr_validate_headers(block, length, &err);
    while (pos < length) {
        fsmr_header hd;
        uint32_t before = pos;
        code = fsmr_next_header(block, length, &pos, &hd, &walk_err);
        CHECK(hd.offset == before);
        if (hd.name) {
            CHECK(hd.name > block + before && hd.name + hd.name_length <= block + length);
            h = fnv(h, hd.name, hd.name_length);
        }
        if (code != FSMR_OK) {
            CHECK(pos == before);
            CHECK(walk_err.code == code && walk_err.offset == before);
            break;
        }
        CHECK(pos > before && pos <= length);
        CHECK(hd.type <= FSMR_TYPE_UUID);
        if (hd.value) {
            CHECK(hd.value > block + before && hd.value + hd.value_length <= block + pos);
            h = fnv(h, hd.value, hd.value_length);
        }
        h = fnv(h, &hd.integer, sizeof(hd.integer));
        h = fnv(h, &hd.type, 1);
    }
    CHECK(code == r->header_code);
    if (code != FSMR_OK) {
        CHECK(err.offset == walk_err.offset && err.expected == walk_err.expected &&
              err.found == walk_err.found);
    }
    r->header_digest = h;
}

static void check_message(const fsmr_message *m, const uint8_t *stream, size_t n, uint64_t offset,
                          const uint32_t lim[2], outcome *out)
{
    const uint8_t *at = stream + m->offset;
    record *r;
    int impl;
    CHECK(m->offset == offset);
    CHECK(m->total_length >= 16 && m->total_length <= n - m->offset);
    CHECK(m->total_length == 16u + m->headers_length + m->payload_length);
    CHECK(m->headers_length <= lim[0] && m->payload_length <= lim[1]);
    CHECK(m->prelude_crc == be32_at(at + 8));
    CHECK(m->crc == be32_at(at + m->total_length - 4));
    CHECK(m->headers != NULL); /* so memcmp(m->headers, x, 0) is defined */
    CHECK(m->headers_length == 0 || memcmp(m->headers, at + 12, m->headers_length) == 0);
    CHECK((m->payload == NULL) == (m->payload_length == 0));
    CHECK(m->payload_length == 0 ||
          memcmp(m->payload, at + 12 + m->headers_length, m->payload_length) == 0);
    for (impl = 0; impl < FSMR_CRC32_IMPL_COUNT; impl++) {
        if (fsmr_crc32_available((fsmr_crc32_impl)impl)) {
            int uncached;
            CHECK(fsmr_crc32_using((fsmr_crc32_impl)impl, 0, at, m->total_length - 4) == m->crc);
            CHECK(fsmr_crc32_using((fsmr_crc32_impl)impl, 0, at, 8) == m->prelude_crc);
            for (uncached = 0; uncached < 2; uncached++) {
                size_t n_copy = m->total_length - 4;
                uint8_t *copy = (uint8_t *)malloc(n_copy);
                CHECK(copy != NULL);
                CHECK(fsmr_crc32_copy_using((fsmr_crc32_impl)impl, 0, copy, at, n_copy, uncached) == m->crc);
                CHECK(memcmp(copy, at, n_copy) == 0);
                free(copy);
            }
        }
    }
    if (out->count == out->capacity) {
        out->capacity = out->capacity ? out->capacity * 2 : 16;
        out->records = (record *)realloc(out->records, out->capacity * sizeof(record));
        CHECK(out->records != NULL);
    }
    r = &out->records[out->count++];
    memset(r, 0, sizeof(*r));
    r->offset = m->offset;
    r->total_length = m->total_length;
    r->headers_length = m->headers_length;
    r->payload_length = m->payload_length;
    r->prelude_crc = m->prelude_crc;
    r->crc = m->crc;
    check_headers(m->headers, m->headers_length, r);
}

/* Decode stream[0:n] fed as consecutive chunks of the given sizes. */
static void run(const uint8_t *stream, size_t n, const size_t *sizes, size_t nchunks,
                const uint32_t lim[2], uint32_t buffer_from, outcome *out)
{
    fsmr_decoder dec;
    uint8_t *payload = NULL;
    uint64_t offset = 0; /* of the message being decoded */
    size_t start = 0, c;
    memset(out, 0, sizeof(*out));
    fsmr_decoder_init(&dec, lim[0], lim[1]);
    dec.buffer_payloads_from = buffer_from;
    for (c = 0; c < nchunks && !out->failed; c++) {
        size_t len = sizes[c], pos = 0, stalls = 0;
        uint8_t *chunk = (uint8_t *)malloc(len ? len : 1);
        CHECK(chunk != NULL);
        memcpy(chunk, stream + start, len);
        for (;;) {
            size_t used = 12345;
            fsmr_message m;
            fsmr_error err;
            fsmr_status st;
            size_t work = fsmr_decoder_next_work(&dec, chunk + pos, len - pos);
            CHECK(work <= len - pos);
            st = fsmr_decoder_next(&dec, chunk + pos, len - pos, &used, &m, &err);
            if (st == FSMR_ERROR) {
                CHECK(err.offset == offset);
                out->failed = 1;
                out->err = err;
                break;
            }
            CHECK(used <= len - pos);
            pos += used;
            stalls = used ? 0 : stalls + 1;
            CHECK(stalls < 3); /* every call but a PAYLOAD_BUFFER one makes progress */
            if (st == FSMR_NEED_INPUT) {
                CHECK(pos == len);
                break;
            }
            if (st == FSMR_PAYLOAD_BUFFER) {
                CHECK(payload == NULL && m.payload_length > 0 && m.offset == offset);
                payload = (uint8_t *)malloc(m.payload_length);
                CHECK(payload != NULL);
                dec.payload_dst = payload;
                continue;
            }
            CHECK(st == FSMR_MESSAGE);
            CHECK(!m.payload_in_dst || m.payload_length == 0 || m.payload == payload);
            /* A payload asked for in a buffer always comes in one. */
            CHECK(!buffer_from || m.payload_length < buffer_from || m.payload_in_dst);
            check_message(&m, stream, n, offset, lim, out);
            offset += m.total_length;
            if (m.payload_in_dst) {
                free(payload);
                payload = NULL;
            }
        }
        free(chunk);
        start += len;
    }
    free(payload);
    out->have = dec.have;
    if (!out->failed) {
        CHECK(start == n && dec.offset == offset && dec.have <= n - offset);
    }
    fsmr_decoder_free(&dec);
}

static void same_outcome(const outcome *a, const outcome *b)
{
    size_t i;
    CHECK(a->count == b->count);
    for (i = 0; i < a->count; i++) {
        const record *x = &a->records[i], *y = &b->records[i];
        CHECK(x->offset == y->offset && x->total_length == y->total_length);
        CHECK(x->headers_length == y->headers_length && x->payload_length == y->payload_length);
        CHECK(x->prelude_crc == y->prelude_crc && x->crc == y->crc);
        CHECK(x->header_code == y->header_code && x->header_digest == y->header_digest);
    }
    CHECK(a->failed == b->failed);
    if (a->failed) {
        CHECK(a->err.code == b->err.code && a->err.offset == b->err.offset);
        CHECK(a->err.expected == b->err.expected && a->err.found == b->err.found);
        CHECK(a->err.extra == b->err.extra);
    } else {
        CHECK(a->have == b->have);
    }
}

typedef struct {
    uint8_t *data; /* the chunks' data, in order */
    size_t length;
    uint64_t consumed; /* transfer-coded bytes */
    fsmr_chunked_status status;
    fsmr_error err;              /* when status is FSMR_CHUNKED_ERROR */
    fsmr_error_code finish_code; /* fsmr_chunked_finish's verdict, otherwise */
    fsmr_error finish_err;
} chunked_outcome;

/* De-chunk stream[0:n] fed as consecutive chunks of the given sizes. */
static void run_chunked(const uint8_t *stream, size_t n, const size_t *sizes, size_t nchunks,
                        chunked_outcome *out)
{
    fsmr_chunked dec;
    size_t start = 0, c;
    memset(out, 0, sizeof(*out));
    out->data = (uint8_t *)malloc(n ? n : 1);
    CHECK(out->data != NULL);
    fsmr_chunked_init(&dec);
    for (c = 0; c < nchunks; c++) {
        size_t len = sizes[c], written = 12345, used = 12345;
        uint8_t *chunk = (uint8_t *)malloc(len), *data = (uint8_t *)malloc(len);
        fsmr_chunked_status st;
        fsmr_error err;
        CHECK(chunk != NULL && data != NULL);
        memcpy(chunk, stream + start, len);
        start += len;
        st = fsmr_chunked_decode(&dec, chunk, len, data, &written, &used, &err);
        CHECK(used <= len && written <= used);
        CHECK(dec.offset == out->consumed + used);
        if (out->status == FSMR_CHUNKED_END) {
            /* Past the end nothing more is read. */
            CHECK(st == FSMR_CHUNKED_END && used == 0 && written == 0);
        }
        if (st == FSMR_CHUNKED_NEED_INPUT) {
            CHECK(used == len);
        } else {
            CHECK(st == FSMR_CHUNKED_END || st == FSMR_CHUNKED_ERROR);
        }
        memcpy(out->data + out->length, data, written);
        out->length += written;
        out->consumed += used;
        out->status = st;
        if (st == FSMR_CHUNKED_END) {
            /* Nor the rest of this chunk (none, if the end was its last byte). */
            CHECK(fsmr_chunked_decode(&dec, chunk + used, len - used, data, &written, &used, &err) ==
                      FSMR_CHUNKED_END &&
                  used == 0 && written == 0);
        }
        free(data);
        free(chunk);
        if (st == FSMR_CHUNKED_ERROR) {
            /* The offending byte is the first one not consumed. */
            CHECK(err.offset == out->consumed);
            CHECK(err.code >= FSMR_ERR_CHUNK_SIZE && err.code <= FSMR_ERR_CHUNK_LINE_LENGTH);
            out->err = err;
            return;
        }
    }
    CHECK(out->consumed <= n && (out->status == FSMR_CHUNKED_END || out->consumed == n));
    memset(&out->finish_err, 0, sizeof(out->finish_err));
    out->finish_code = fsmr_chunked_finish(&dec, &out->finish_err);
    if (out->status == FSMR_CHUNKED_END) {
        CHECK(out->finish_code == FSMR_OK);
    } else if (out->finish_code == FSMR_ERR_CHUNK_DATA_LEFT) {
        CHECK(out->finish_err.offset == n && out->finish_err.found > 0);
    } else if (out->finish_code != FSMR_OK) {
        CHECK(out->finish_code == FSMR_ERR_CHUNK_NO_LAST && out->finish_err.offset == n);
    }
}

static void same_errors(const fsmr_error *a, const fsmr_error *b)
{
    CHECK(a->code == b->code && a->offset == b->offset);
    CHECK(a->expected == b->expected && a->found == b->found && a->extra == b->extra);
}

static void same_chunked_outcome(const chunked_outcome *a, const chunked_outcome *b)
{
    CHECK(a->status == b->status && a->consumed == b->consumed && a->length == b->length);
    CHECK(a->length == 0 || memcmp(a->data, b->data, a->length) == 0);
    if (a->status == FSMR_CHUNKED_ERROR) {
        same_errors(&a->err, &b->err);
    } else {
        CHECK(a->finish_code == b->finish_code);
        if (a->finish_code != FSMR_OK) {
            same_errors(&a->finish_err, &b->finish_err);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t head[3] = {0, 0, 0};
    uint8_t *stream;
    size_t n, *sizes, nchunks = 0, cap, left;
    uint32_t state;
    const uint32_t *lim;
    outcome chunked, whole;

    memcpy(head, data, size < 3 ? size : 3);
    n = size > 3 ? size - 3 : 0;
    stream = (uint8_t *)malloc(n ? n : 1);
    CHECK(stream != NULL);
    memcpy(stream, data + 3, n);
    if ((head[0] & 1) && !(head[0] & 0x80)) {
        repair_crcs(stream, n);
    }
    lim = limits[(head[0] >> 1) & 3];
    cap = chunk_caps[(head[0] >> 3) & 7];

    sizes = (size_t *)malloc((n ? n : 1) * sizeof(size_t));
    CHECK(sizes != NULL);
    state = ((uint32_t)(head[1] << 8 | head[2]) * 2654435761u) | 1u;
    for (left = n; left > 0; nchunks++) {
        size_t s = n;
        if (cap) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            s = 1 + state % cap;
        }
        sizes[nchunks] = s < left ? s : left;
        left -= sizes[nchunks];
    }

    if (head[0] & 0x80) {
        chunked_outcome dechunked, whole_body;
        uint8_t *next;
        run_chunked(stream, n, sizes, nchunks, &dechunked);
        run_chunked(stream, n, &n, n ? 1 : 0, &whole_body);
        same_chunked_outcome(&dechunked, &whole_body);
        /* The data read, as the stream of the same input without bit 7. */
        next = (uint8_t *)malloc(3 + dechunked.length);
        CHECK(next != NULL);
        next[0] = head[0] & 0x7f;
        memcpy(next + 1, head + 1, 2);
        memcpy(next + 3, dechunked.data, dechunked.length);
        LLVMFuzzerTestOneInput(next, 3 + dechunked.length);
        free(next);
        free(whole_body.data);
        free(dechunked.data);
        free(sizes);
        free(stream);
        return 0;
    }

    fail_alloc = (head[0] & 0x40) != 0;
    run(stream, n, sizes, nchunks, lim, 0, &chunked);
    fail_alloc = 0;
    if (!(head[0] & 0x40)) {
        /* The same stream in one piece must decode the same way, with its
           payloads in place or in buffers of their own. */
        run(stream, n, &n, n ? 1 : 0, lim, 0, &whole);
        same_outcome(&chunked, &whole);
        free(whole.records);
        run(stream, n, &n, n ? 1 : 0, lim, 1, &whole);
        same_outcome(&chunked, &whole);
        free(whole.records);
    } else if (chunked.failed && chunked.err.code == FSMR_ERR_NO_MEMORY) {
        CHECK(chunked.err.found > 0);
    }
    free(chunked.records);
    free(sizes);
    free(stream);
    return 0;
}

#ifdef FSMR_FUZZ_MAIN
#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long size;
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (uint8_t *)malloc(size > 0 ? (size_t)size : 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    free(buf);
    return 0;
}

/* Replay every file named, and every file in every directory named. */
int main(int argc, char **argv)
{
    int i, files = 0, errors = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            CHECK(d != NULL);
            while ((e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.') {
                    continue;
                }
                snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                errors += replay_file(path);
                files++;
            }
            closedir(d);
        } else {
            errors += replay_file(argv[i]);
            files++;
        }
    }
    printf("replayed %d inputs\n", files - errors);
    return errors ? 1 : 0;
}
#endif
