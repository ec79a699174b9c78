/*
 * libFuzzer harness for the text fast path (csrc/text.c) alone, and, built
 * with -DFSMR_FUZZ_MAIN, a plain driver that replays corpus files (for
 * valgrind and the sanitizer builds).
 *
 * Input: byte 0 bits 0-2 the format (0 auto, 1 tgi, 2 lmi, 3 openai, 4 raw;
 * 5-7 wrap), bits 3-5 the largest part (1, 2, 3, 8, 13, 64, 4096 bytes, or
 * the whole stream), bit 6 every allocation fails; bytes 1-2 the seed of
 * the xorshift32 generator that draws each part's size; then the stream.
 *
 * The stream is fed in those parts, each copied into a heap block of exactly
 * its size (AddressSanitizer or valgrind see a read past it), then finished.
 * Checked, for every input:
 * - what is handed over is the stream itself: pending holds exactly the
 *   stream's bytes from base to the end of what was fed, and its pieces add
 *   up to it; before the first text, base is 0;
 * - every event made is `data: {"text":"..."}` and a blank line, its text a
 *   non-empty JSON string as json.dumps(ensure_ascii=False) writes one
 *   (valid UTF-8, no raw control character, only the escapes it uses);
 * - for the framed formats (tgi, lmi, openai), the parts and the whole
 *   stream in one feed make the same events and hand over at the same
 *   offset (the events of raw text follow its parts, by design);
 * - when memory runs out the result says so, and nothing leaks.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc tests/fuzz/fuzz_text.c -o fuzz_text
 *   gcc -g -O1 -DFSMR_FUZZ_MAIN -Icsrc tests/fuzz/fuzz_text.c -o replay_text
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_alloc;
static void *fuzz_realloc(void *p, size_t n);
#define realloc fuzz_realloc
#include "text.c"
#undef realloc

static void *fuzz_realloc(void *p, size_t n)
{
    return fail_alloc ? NULL : realloc(p, n);
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_text.c:%d: check failed: %s\n", __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static const size_t part_caps[8] = {1, 2, 3, 8, 13, 64, 4096, 0};

typedef struct {
    fsmr_bytes events;
    int status;           /* of the call that stopped, or of finish */
    int handed_over;
    uint64_t base;
    size_t fed;           /* bytes fed before the handover (all, if none) */
} result;

/* Each event is `data: {"text":"` + a non-empty JSON string body + `"}` and a blank line. */
static void check_events(const fsmr_bytes *events)
{
    static const char head[] = "data: {\"text\":\"", tail[] = "\"}\n\n";
    size_t at = 0;
    while (at < events->len) {
        const uint8_t *e = events->data + at, *end = events->data + events->len;
        CHECK((size_t)(end - e) > sizeof head - 1 + sizeof tail - 1);
        CHECK(memcmp(e, head, sizeof head - 1) == 0);
        const uint8_t *p = e + sizeof head - 1, *body = p;
        while (p < end && *p != '"') {
            CHECK(*p >= 0x20);
            if (*p == '\\') {
                CHECK(p + 1 < end);
                uint8_t x = p[1];
                if (x == 'u') {
                    CHECK(end - p >= 6 && memcmp(p + 2, "00", 2) == 0);
                    long c = hex4(p + 2);
                    /* json.dumps writes \uXXXX only for control characters without a short escape */
                    CHECK(c >= 0 && c < 0x20 && c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t');
                    CHECK(strchr("0123456789abcdef", p[4]) && strchr("0123456789abcdef", p[5]));
                    p += 6;
                } else {
                    CHECK(x == '"' || x == '\\' || x == 'b' || x == 'f' || x == 'n' || x == 'r' || x == 't');
                    p += 2;
                }
            } else {
                p++;
            }
        }
        CHECK(p > body && p < end);
        CHECK(fsmr_utf8_valid(body, (size_t)(p - body)));
        CHECK((size_t)(end - p) >= sizeof tail - 1 && memcmp(p, tail, sizeof tail - 1) == 0);
        at = (size_t)(p + sizeof tail - 1 - events->data);
    }
}

/* What was handed over is the stream from base to what was fed, in pieces that add up. */
static void check_handover(const fsmr_text *t, const uint8_t *stream, size_t fed)
{
    CHECK(t->base <= fed && t->pending.len == fed - t->base);
    CHECK(t->pending.len == 0 || memcmp(t->pending.data, stream + t->base, t->pending.len) == 0);
    if (!t->emitted) CHECK(t->base == 0);
    size_t sum = 0;
    for (int i = 0; i < t->n_pieces; i++) sum += t->pieces[i];
    CHECK(t->n_pieces == 0 || sum == t->pending.len);
}

static void run(int format, const uint8_t *stream, size_t n, const size_t *sizes, size_t nparts, result *out)
{
    fsmr_text t;
    size_t at = 0;
    fsmr_text_init(&t, format);
    memset(out, 0, sizeof *out);
    out->status = FSMR_TEXT_OK;
    for (size_t i = 0; i < nparts; i++) {
        uint8_t *part = (uint8_t *)malloc(sizes[i] ? sizes[i] : 1);
        CHECK(part != NULL);
        memcpy(part, stream + at, sizes[i]);
        int st = fsmr_text_feed(&t, part, sizes[i], &out->events);
        free(part);
        at += sizes[i];
        if (st != FSMR_TEXT_OK) {
            out->status = st;
            break;
        }
    }
    if (out->status == FSMR_TEXT_OK) out->status = fsmr_text_finish(&t, &out->events);
    out->fed = at;
    if (out->status == FSMR_TEXT_HANDOVER) {
        out->handed_over = 1;
        out->base = t.base;
        check_handover(&t, stream, at);
        /* once stopped, it stays stopped */
        CHECK(fsmr_text_feed(&t, stream, n, &out->events) == FSMR_TEXT_HANDOVER);
    } else if (out->status == FSMR_TEXT_OK) {
        CHECK(at == n);
        CHECK(t.framing == FSMR_FRAMING_TEXT ? t.held_len == 0 : t.pending.len == t.block);
    } else {
        CHECK(out->status == FSMR_TEXT_NO_MEMORY);
    }
    if (out->status != FSMR_TEXT_NO_MEMORY) check_events(&out->events);
    fsmr_text_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t head[3] = {0, 0, 0};
    memcpy(head, data, size < 3 ? size : 3);
    size_t n = size > 3 ? size - 3 : 0;
    uint8_t *stream = (uint8_t *)malloc(n ? n : 1);
    CHECK(stream != NULL);
    memcpy(stream, data + 3, n);
    int format = (head[0] & 7) % 5;
    size_t cap = part_caps[(head[0] >> 3) & 7];
    size_t *sizes = (size_t *)malloc((n ? n : 1) * sizeof(size_t)), nparts = 0;
    CHECK(sizes != NULL);
    uint32_t state = ((uint32_t)(head[1] << 8 | head[2]) * 2654435761u) | 1u;
    for (size_t left = n; left > 0; nparts++) {
        size_t s = n;
        if (cap) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            s = 1 + state % cap;
        }
        sizes[nparts] = s < left ? s : left;
        left -= sizes[nparts];
    }
    result parts, whole;
    fail_alloc = (head[0] & 0x40) != 0;
    run(format, stream, n, sizes, nparts, &parts);
    fail_alloc = 0;
    if (head[0] & 0x40) {
        CHECK(parts.status == FSMR_TEXT_NO_MEMORY || parts.events.len == 0);
    } else if (format != FSMR_TEXT_RAW && format != FSMR_TEXT_AUTO) {
        run(format, stream, n, &n, n ? 1 : 0, &whole);
        CHECK(parts.handed_over == whole.handed_over && parts.base == whole.base);
        CHECK(parts.events.len == whole.events.len);
        CHECK(parts.events.len == 0 || memcmp(parts.events.data, whole.events.data, parts.events.len) == 0);
        fsmr_bytes_free(&whole.events);
    }
    fsmr_bytes_free(&parts.events);
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
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = (uint8_t *)malloc(size > 0 ? (size_t)size : 1);
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
    int files = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            CHECK(d != NULL);
            while ((e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.') continue;
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
