/*
 * The text fast path (see text.h).
 *
 * What it accepts, and why that is exactly what fastsmr.text_stream makes
 * of it (tokens/text.py; the same holds for its stricter accounting rules):
 *
 * - Server-Sent Events (tgi, openai, auto when the stream starts with a
 *   field): lines ended by LF or CRLF; `data:` (one per event), `event:`
 *   (any type but `error`), `id:`, `retry:` and `:` comments; a blank line
 *   dispatches. A lone CR, a second data line, any other line, and an
 *   `error` event are handed over.
 * - JSON lines (lmi, auto when the stream starts with `{`): LF-ended lines.
 * - Each event's data or line is blank (bytes.strip() leaves nothing: no
 *   text) or one JSON object, valid UTF-8, that RFC 8259 parses the same in
 *   every parser: no NaN, no lone surrogate escape, no number over 256
 *   characters (Python's int limit), nesting under 64 levels. The objects
 *   whose text is read (the top one, the token, a choice, a delta, details)
 *   must not repeat a key that is read or escape any key.
 * - Token objects (tgi, lmi): `token` an object; `details` absent, null,
 *   false, or an object whose `finish_reason` is absent, null or a string
 *   other than "error"; `special` and `special_token` absent, null or a
 *   boolean (true: no text); `text` absent, null (no text) or a string.
 * - OpenAI chunks (openai): no `error` key, `object` not "error";
 *   `choices` an array, empty (no text) or of one object whose `index` is
 *   absent or 0, `finish_reason` absent, null or a string other than
 *   "error", and either `delta` an object with `content` absent, null or a
 *   string, `role` anything, and any other key null, "", [] or {}; or no
 *   delta (or null), no `message`, and `text` absent, null or a string.
 * - auto: an object with `choices` is read as an OpenAI chunk, else one
 *   with `token` as a token object.
 * - Raw text: valid UTF-8; a character cut by the part's end is held for
 *   the next part, as Python's incremental decoder holds it.
 *
 * Anything else stops the fast path. Before the first text the whole
 * stream is kept, so that the Python decoder can read it from the start;
 * after it, only the current event or line.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ bytes */

int fsmr_bytes_reserve(fsmr_bytes *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *p = (uint8_t *)realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fsmr_bytes_append(fsmr_bytes *b, const void *data, size_t len)
{
    if (len == 0) return 0;
    if (b->len + len < b->len || fsmr_bytes_reserve(b, b->len + len) < 0) return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void fsmr_bytes_free(fsmr_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ UTF-8 */

/* The character at s[0] (n >= 1): its length, 0 if the bytes are a valid
   start of one that runs past n, -1 if they are not valid UTF-8. */
static int utf8_char(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n) return 0;
        if (s[k] < lo || s[k] > hi) return -1;
        lo = 0x80;
        hi = 0xBF;
    }
    return (int)need + 1;
}

/* The length of the longest prefix of s[0:n] made of whole characters; *cut
   is 1 if the rest is the valid start of a character, 0 if there is no rest,
   -1 if the rest is not valid UTF-8. */
static size_t utf8_prefix(const uint8_t *s, size_t n, int *cut)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int r = utf8_char(s + i, n - i);
        if (r <= 0) {
            *cut = r == 0 ? 1 : -1;
            return i;
        }
        i += (size_t)r;
    }
    *cut = 0;
    return i;
}

int fsmr_utf8_valid(const uint8_t *s, size_t n)
{
    int cut;
    return utf8_prefix(s, n, &cut) == n;
}

/* ------------------------------------------------------------------- JSON */

#define MAX_DEPTH 64
#define MAX_NUMBER 256

typedef struct {
    const uint8_t *at; /* NULL: absent */
    const uint8_t *end;
} span;

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The four hex digits at p (p + 4 <= e): their value, or -1. */
static long hex4(const uint8_t *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_value(p[i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The string at p ('"'): the byte after its closing quote, or NULL if it is
   not valid JSON or holds an escaped lone surrogate. *escaped is set when it
   has escapes. Its bytes' UTF-8 is validated by the caller. */
static const uint8_t *json_string(const uint8_t *p, const uint8_t *e, int *escaped)
{
    p++;
    while (p < e) {
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') {
            p++;
            continue;
        }
        *escaped = 1;
        if (e - p < 2) return NULL;
        uint8_t x = p[1];
        if (x == 'u') {
            if (e - p < 6) return NULL;
            long cp = hex4(p + 2);
            if (cp < 0) return NULL;
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u') return NULL;
                long low = hex4(p + 2);
                if (low < 0xDC00 || low > 0xDFFF) return NULL;
                p += 6;
            }
        } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' || x == 't') {
            p += 2;
        } else {
            return NULL;
        }
    }
    return NULL;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static const uint8_t *json_number(const uint8_t *p, const uint8_t *e)
{
    const uint8_t *start = p;
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && is_digit(*p)) p++;
    } else {
        return NULL;
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p)) return NULL;
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return NULL;
        while (p < e && is_digit(*p)) p++;
    }
    return p - start > MAX_NUMBER ? NULL : p;
}

static const uint8_t *json_literal(const uint8_t *p, const uint8_t *e, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(e - p) < n || memcmp(p, word, n) != 0) return NULL;
    return p + n;
}

static const uint8_t *json_value(const uint8_t *p, const uint8_t *e, int depth);

static const uint8_t *json_container(const uint8_t *p, const uint8_t *e, int depth)
{
    uint8_t close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    if (depth >= MAX_DEPTH) return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
        if (object) {
            int escaped = 0;
            if (p >= e || *p != '"' || !(p = json_string(p, e, &escaped))) return NULL;
            p = skip_ws(p, e);
            if (p >= e || *p != ':') return NULL;
            p = skip_ws(p + 1, e);
        }
        if (!(p = json_value(p, e, depth + 1))) return NULL;
        p = skip_ws(p, e);
        if (p >= e) return NULL;
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = skip_ws(p + 1, e);
    }
}

/* The value at p (not whitespace): the byte after it, or NULL. */
static const uint8_t *json_value(const uint8_t *p, const uint8_t *e, int depth)
{
    if (p >= e) return NULL;
    switch (*p) {
    case '{':
    case '[':
        return json_container(p, e, depth);
    case '"': {
        int escaped = 0;
        return json_string(p, e, &escaped);
    }
    case 't':
        return json_literal(p, e, "true");
    case 'f':
        return json_literal(p, e, "false");
    case 'n':
        return json_literal(p, e, "null");
    default:
        return json_number(p, e);
    }
}

/* The members of an object that are read: name -> value. */
typedef struct {
    const char *name;
    span value;
} field;

/* The object at p ('{'): the byte after it, or NULL. Records the values of
   the keys in fields[0:n]; a key that is escaped, or one of fields given
   twice, is out of the fast path (NULL). *others_empty (if not NULL) is
   cleared when another key's value is not null, "", [] or {}. */
static const uint8_t *json_object(const uint8_t *p, const uint8_t *e, int depth, field *fields, int n,
                                  int *others_empty)
{
    for (int i = 0; i < n; i++) fields[i].value.at = NULL;
    if (depth >= MAX_DEPTH) return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') return p + 1;
    for (;;) {
        int escaped = 0;
        if (p >= e || *p != '"') return NULL;
        const uint8_t *key = p + 1;
        if (!(p = json_string(p, e, &escaped)) || escaped) return NULL;
        size_t key_length = (size_t)(p - 1 - key);
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return NULL;
        p = skip_ws(p + 1, e);
        const uint8_t *value = p;
        if (!(p = json_value(p, e, depth + 1))) return NULL;
        int known = 0;
        for (int i = 0; i < n; i++) {
            if (strlen(fields[i].name) == key_length && memcmp(fields[i].name, key, key_length) == 0) {
                if (fields[i].value.at) return NULL; /* Python keeps the last; fall back */
                fields[i].value.at = value;
                fields[i].value.end = p;
                known = 1;
                break;
            }
        }
        if (!known && others_empty && *others_empty) {
            const uint8_t *inner = skip_ws(value + 1, p);
            size_t length = (size_t)(p - value);
            int empty = (length == 4 && memcmp(value, "null", 4) == 0) || (length == 2 && value[0] == '"') ||
                        ((value[0] == '[' || value[0] == '{') && inner == p - 1);
            if (!empty) *others_empty = 0;
        }
        p = skip_ws(p, e);
        if (p >= e) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = skip_ws(p + 1, e);
    }
}

static int span_is(span s, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(s.end - s.at) == n && memcmp(s.at, word, n) == 0;
}

/* A string value whose raw content is word (an escaped one is never taken
   for it: *unsure is set). */
static int string_is(span s, const char *word, int *unsure)
{
    if (s.at[0] != '"') return 0;
    if (memchr(s.at, '\\', (size_t)(s.end - s.at))) {
        *unsure = 1;
        return 0;
    }
    size_t n = strlen(word);
    return (size_t)(s.end - s.at) == n + 2 && memcmp(s.at + 1, word, n) == 0;
}

/* What one JSON object makes: no text, a text (the string value in *text),
   or out of the fast path. */
enum { NO_TEXT = 0, TEXT = 1, OUT = -1 };

/* A string or nothing: TEXT, NO_TEXT (absent or null) or OUT. */
static int text_value(span v, span *text)
{
    if (!v.at || span_is(v, "null")) return NO_TEXT;
    if (v.at[0] != '"') return OUT;
    *text = v;
    return TEXT;
}

/* absent, null, false: 0; true: 1; anything else: -1 */
static int flag_value(span v)
{
    if (!v.at || span_is(v, "null") || span_is(v, "false")) return 0;
    return span_is(v, "true") ? 1 : -1;
}

/* A finish_reason: absent, null or a string other than "error". */
static int finish_ok(span v)
{
    int unsure = 0;
    if (!v.at || span_is(v, "null")) return 1;
    if (v.at[0] != '"') return 0;
    return !string_is(v, "error", &unsure) && !unsure;
}

enum { TOP_TOKEN, TOP_DETAILS, TOP_CHOICES, TOP_ERROR, TOP_OBJECT, TOP_FIELDS };

static int token_text(span token, span details, span *text)
{
    const uint8_t *e = token.end;
    if (token.at[0] != '{') return OUT;
    if (details.at && !span_is(details, "null") && !span_is(details, "false")) {
        field f[1] = {{"finish_reason", {NULL, NULL}}};
        if (details.at[0] != '{' || !json_object(details.at, details.end, 1, f, 1, NULL)) return OUT;
        if (!finish_ok(f[0].value)) return OUT;
    }
    field f[3] = {{"special", {NULL, NULL}}, {"special_token", {NULL, NULL}}, {"text", {NULL, NULL}}};
    if (!json_object(token.at, e, 1, f, 3, NULL)) return OUT;
    int special = flag_value(f[0].value), special_token = flag_value(f[1].value);
    if (special < 0 || special_token < 0) return OUT;
    if (special || special_token) return NO_TEXT;
    return text_value(f[2].value, text);
}

static int openai_text(const field *top, span *text)
{
    int unsure = 0;
    if (top[TOP_ERROR].value.at) return OUT;
    if (top[TOP_OBJECT].value.at && (string_is(top[TOP_OBJECT].value, "error", &unsure) || unsure)) return OUT;
    span choices = top[TOP_CHOICES].value;
    if (choices.at[0] != '[') return OUT;
    const uint8_t *p = skip_ws(choices.at + 1, choices.end);
    if (*p == ']') return NO_TEXT; /* a usage chunk */
    if (*p != '{') return OUT;
    enum { INDEX, DELTA, CHOICE_TEXT, FINISH, MESSAGE, CHOICE_FIELDS };
    field f[CHOICE_FIELDS] = {{"index", {NULL, NULL}}, {"delta", {NULL, NULL}}, {"text", {NULL, NULL}},
                              {"finish_reason", {NULL, NULL}}, {"message", {NULL, NULL}}};
    const uint8_t *end = json_object(p, choices.end, 2, f, CHOICE_FIELDS, NULL);
    if (!end || *skip_ws(end, choices.end) != ']') return OUT; /* one choice only */
    if (f[INDEX].value.at && !span_is(f[INDEX].value, "0")) return OUT;
    if (!finish_ok(f[FINISH].value)) return OUT;
    span delta = f[DELTA].value;
    if (delta.at && delta.at[0] == '{') {
        field d[2] = {{"content", {NULL, NULL}}, {"role", {NULL, NULL}}};
        int others_empty = 1;
        if (!json_object(delta.at, delta.end, 3, d, 2, &others_empty) || !others_empty) return OUT;
        return text_value(d[0].value, text);
    }
    if (delta.at && !span_is(delta, "null")) return OUT;
    if (f[MESSAGE].value.at) return OUT;
    return text_value(f[CHOICE_TEXT].value, text);
}

/* The text of one event's data or one line, by the stream's format. */
static int object_text(int format, const uint8_t *data, size_t len, span *text)
{
    const uint8_t *e = data + len;
    const uint8_t *p = skip_ws(data, e);
    if (p >= e || *p != '{' || !fsmr_utf8_valid(data, len)) return OUT;
    field top[TOP_FIELDS] = {{"token", {NULL, NULL}}, {"details", {NULL, NULL}}, {"choices", {NULL, NULL}},
                             {"error", {NULL, NULL}}, {"object", {NULL, NULL}}};
    const uint8_t *end = json_object(p, e, 0, top, TOP_FIELDS, NULL);
    if (!end || skip_ws(end, e) != e) return OUT;
    int openai = format == FSMR_TEXT_OPENAI || (format == FSMR_TEXT_AUTO && top[TOP_CHOICES].value.at);
    if (openai) return top[TOP_CHOICES].value.at ? openai_text(top, text) : OUT;
    if (!top[TOP_TOKEN].value.at) return OUT;
    return token_text(top[TOP_TOKEN].value, top[TOP_DETAILS].value, text);
}

/* bytes.strip() would leave nothing */
static int blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\x0b' && c != '\x0c') return 0;
    }
    return 1;
}

/* ----------------------------------------------------------------- events */

static const char EVENT_HEAD[] = "data: {\"text\":\"";
static const char EVENT_TAIL[] = "\"}\n\n";
static const char HEX[] = "0123456789abcdef";

/* json.dumps(ensure_ascii=False) of one code point below 0x20, or '"' or '\\'. */
static size_t escape_char(uint32_t c, uint8_t *o)
{
    const char *brief = NULL;
    switch (c) {
    case '"': brief = "\\\""; break;
    case '\\': brief = "\\\\"; break;
    case '\b': brief = "\\b"; break;
    case '\f': brief = "\\f"; break;
    case '\n': brief = "\\n"; break;
    case '\r': brief = "\\r"; break;
    case '\t': brief = "\\t"; break;
    default: break;
    }
    if (brief) {
        o[0] = (uint8_t)brief[0];
        o[1] = (uint8_t)brief[1];
        return 2;
    }
    memcpy(o, "\\u00", 4);
    o[4] = (uint8_t)HEX[(c >> 4) & 0xF];
    o[5] = (uint8_t)HEX[c & 0xF];
    return 6;
}

static size_t utf8_encode(uint32_t c, uint8_t *o)
{
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (c >> 18));
    o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* The event of a JSON string value's text (s: between the quotes, validated
   by json_string): its escapes decoded and the text escaped again as
   json.dumps escapes it, which never takes more bytes than the source. */
static int emit_json(fsmr_bytes *out, const uint8_t *s, size_t n)
{
    if (fsmr_bytes_reserve(out, out->len + sizeof EVENT_HEAD + n + sizeof EVENT_TAIL) < 0) return -1;
    uint8_t *o = out->data + out->len;
    memcpy(o, EVENT_HEAD, sizeof EVENT_HEAD - 1);
    o += sizeof EVENT_HEAD - 1;
    size_t i = 0;
    while (i < n) {
        const uint8_t *slash = (const uint8_t *)memchr(s + i, '\\', n - i);
        size_t run = slash ? (size_t)(slash - (s + i)) : n - i;
        memcpy(o, s + i, run);
        o += run;
        i += run;
        if (i >= n) break;
        uint8_t x = s[i + 1];
        uint32_t c;
        if (x == 'u') {
            c = (uint32_t)hex4(s + i + 2);
            i += 6;
            if (c >= 0xD800 && c <= 0xDBFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + ((uint32_t)hex4(s + i + 2) - 0xDC00);
                i += 6;
            }
        } else {
            i += 2;
            switch (x) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = x; break; /* '"', '\\', '/' */
            }
        }
        o += c < 0x20 || c == '"' || c == '\\' ? escape_char(c, o) : utf8_encode(c, o);
    }
    memcpy(o, EVENT_TAIL, sizeof EVENT_TAIL - 1);
    o += sizeof EVENT_TAIL - 1;
    out->len = (size_t)(o - out->data);
    return 0;
}

/* The event of raw text (valid UTF-8). */
static int emit_raw(fsmr_bytes *out, const uint8_t *s, size_t n)
{
    if (n > (SIZE_MAX - 64) / 6 || fsmr_bytes_reserve(out, out->len + sizeof EVENT_HEAD + 6 * n + sizeof EVENT_TAIL) < 0)
        return -1;
    uint8_t *o = out->data + out->len;
    memcpy(o, EVENT_HEAD, sizeof EVENT_HEAD - 1);
    o += sizeof EVENT_HEAD - 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            o += escape_char(c, o);
        } else {
            *o++ = c;
        }
    }
    memcpy(o, EVENT_TAIL, sizeof EVENT_TAIL - 1);
    o += sizeof EVENT_TAIL - 1;
    out->len = (size_t)(o - out->data);
    return 0;
}

/* ---------------------------------------------------------------- framing */

static int stop(fsmr_text *t)
{
    t->stopped = 1;
    return FSMR_TEXT_HANDOVER;
}

static int no_memory(fsmr_text *t)
{
    t->stopped = 1;
    return FSMR_TEXT_NO_MEMORY;
}

/* The text of one event's data or one JSON line: OK (emitted or none),
   HANDOVER or NO_MEMORY. */
static int unit_text(fsmr_text *t, const uint8_t *data, size_t len, fsmr_bytes *out)
{
    span text;
    if (blank(data, len)) return FSMR_TEXT_OK;
    int r = object_text(t->format, data, len, &text);
    if (r == OUT) return stop(t);
    if (r == TEXT && text.end - text.at > 2) {
        if (emit_json(out, text.at + 1, (size_t)(text.end - text.at) - 2) < 0) return no_memory(t);
        t->emitted = 1;
    }
    return FSMR_TEXT_OK;
}

static int starts(const uint8_t *p, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n >= k && memcmp(p, word, k) == 0;
}

#define NO_DATA SIZE_MAX

/* Split pending[scan:] into lines and read the complete events or lines. */
static int read_lines(fsmr_text *t, fsmr_bytes *out)
{
    int sse = t->framing == FSMR_FRAMING_SSE;
    for (;;) {
        uint8_t *d = t->pending.data;
        size_t n = t->pending.len;
        if (t->scan >= n) break;
        const uint8_t *nl = (const uint8_t *)memchr(d + t->scan, '\n', n - t->scan);
        if (!nl) break;
        size_t start = t->scan, end = (size_t)(nl - d);
        t->scan = end + 1;
        if (!sse) { /* a JSON line */
            int r = end > start ? unit_text(t, d + start, end - start, out) : FSMR_TEXT_OK;
            if (r != FSMR_TEXT_OK) return r;
            t->block = t->scan;
            continue;
        }
        if (end > start && d[end - 1] == '\r') end--;
        const uint8_t *line = d + start;
        size_t len = end - start;
        if (memchr(line, '\r', len)) return stop(t); /* a CR alone ends a line too */
        if (len == 0) { /* dispatch */
            if (t->data_len != NO_DATA) {
                if (t->event_error) return stop(t);
                int r = unit_text(t, d + t->data_at, t->data_len, out);
                if (r != FSMR_TEXT_OK) return r;
            }
            t->data_len = NO_DATA;
            t->event_error = 0;
            t->block = t->scan;
        } else if (line[0] == ':') {
            /* a comment */
        } else if (starts(line, len, "data:")) {
            if (t->data_len != NO_DATA) return stop(t); /* data lines are joined: Python's work */
            size_t skip = len > 5 && line[5] == ' ' ? 6 : 5;
            t->data_at = start + skip;
            t->data_len = len - skip;
        } else if (starts(line, len, "event:")) {
            size_t skip = len > 6 && line[6] == ' ' ? 7 : 6;
            t->event_error = len - skip == 5 && memcmp(line + skip, "error", 5) == 0;
        } else if (!starts(line, len, "id:") && !starts(line, len, "retry:")) {
            return stop(t);
        }
    }
    return FSMR_TEXT_OK;
}

/* Drop what was read, once a text was given (before it, the whole stream is
   kept for the Python decoder). */
static void compact(fsmr_text *t)
{
    if (!t->emitted || t->block == 0) return;
    size_t rest = t->pending.len - t->block;
    if (rest) memmove(t->pending.data, t->pending.data + t->block, rest);
    t->pending.len = rest;
    t->base += t->block;
    t->scan -= t->block;
    if (t->data_len != NO_DATA) t->data_at -= t->block;
    t->block = 0;
}

/* One part of raw text (with the bytes held from the last): one text. */
static int raw_part(fsmr_text *t, const uint8_t *s, size_t n, fsmr_bytes *out)
{
    fsmr_bytes joined = {NULL, 0, 0};
    if (t->held_len) {
        if (fsmr_bytes_append(&joined, t->held, t->held_len) < 0 || fsmr_bytes_append(&joined, s, n) < 0) {
            fsmr_bytes_free(&joined);
            return no_memory(t);
        }
        s = joined.data;
        n = joined.len;
    }
    int cut;
    size_t whole = utf8_prefix(s, n, &cut);
    int r = FSMR_TEXT_OK;
    if (cut < 0) { /* Python's decoder raises for this part (or holds what only it would hold) */
        t->pending.len = 0;
        r = fsmr_bytes_append(&t->pending, s, n) < 0 ? no_memory(t) : stop(t);
        t->held_len = 0;
    } else {
        if (whole && emit_raw(out, s, whole) < 0) {
            r = no_memory(t);
        } else {
            t->held_len = n - whole; /* at most 3 */
            memcpy(t->held, s + whole, t->held_len);
            t->base += whole; /* the offset of what is held */
            if (whole) t->emitted = 1;
        }
    }
    fsmr_bytes_free(&joined);
    return r;
}

static const uint8_t BOM[3] = {0xEF, 0xBB, 0xBF};

/* auto: the framing the stream's first bytes call for, or UNKNOWN while they
   do not tell (as TextDecoder._detect decides it). */
static int detect(const uint8_t *d, size_t n)
{
    static const char *const fields[] = {"data:", "event:", "id:", "retry:", ":"};
    if (n < 3 && memcmp(d, BOM, n) == 0) return FSMR_FRAMING_UNKNOWN;
    size_t i = n >= 3 && memcmp(d, BOM, 3) == 0 ? 3 : 0;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) i++;
    if (i == n) return FSMR_FRAMING_UNKNOWN;
    if (d[i] == '{') return FSMR_FRAMING_JSONL;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        size_t len = strlen(fields[k]), rest = n - i;
        if (rest >= len && memcmp(d + i, fields[k], len) == 0) return FSMR_FRAMING_SSE;
        if (rest < len && memcmp(d + i, fields[k], rest) == 0) return FSMR_FRAMING_UNKNOWN;
    }
    return FSMR_FRAMING_TEXT;
}

/* auto decided on raw text: one text per part received so far. If a part
   stops the fast path, every part goes to Python, which decodes them all
   before it gives any of their texts (TextDecoder._replay): the texts of the
   parts before are then not given either. */
static int replay_text(fsmr_text *t, fsmr_bytes *out)
{
    size_t made = out->len, at = 0;
    int r = FSMR_TEXT_OK;
    fsmr_bytes all = t->pending;
    t->pending.data = NULL;
    t->pending.len = t->pending.cap = 0;
    for (int i = 0; i < t->n_pieces && r == FSMR_TEXT_OK; i++) {
        r = raw_part(t, all.data + at, t->pieces[i], out);
        at += t->pieces[i];
    }
    if (r == FSMR_TEXT_HANDOVER) {
        out->len = made;
        fsmr_bytes_free(&t->pending);
        t->pending = all; /* in the parts as received: n_pieces and pieces still say how */
        t->held_len = 0;
        t->emitted = 0;
        t->base = 0;
        return r;
    }
    t->n_pieces = 0;
    fsmr_bytes_free(&all);
    return r;
}

void fsmr_text_init(fsmr_text *t, int format)
{
    memset(t, 0, sizeof *t);
    t->format = format;
    t->data_len = NO_DATA;
    if (format == FSMR_TEXT_RAW) {
        t->framing = FSMR_FRAMING_TEXT;
    } else if (format == FSMR_TEXT_LMI) {
        t->framing = FSMR_FRAMING_JSONL;
    } else if (format != FSMR_TEXT_AUTO) {
        t->framing = FSMR_FRAMING_SSE;
    }
}

void fsmr_text_free(fsmr_text *t) { fsmr_bytes_free(&t->pending); }

int fsmr_text_feed(fsmr_text *t, const uint8_t *data, size_t len, fsmr_bytes *out)
{
    if (t->stopped) return FSMR_TEXT_HANDOVER;
    if (t->framing == FSMR_FRAMING_TEXT) return len ? raw_part(t, data, len, out) : FSMR_TEXT_OK;
    if (!len) return FSMR_TEXT_OK;
    if (fsmr_bytes_append(&t->pending, data, len) < 0) return no_memory(t);
    if (t->framing == FSMR_FRAMING_UNKNOWN) {
        t->pieces[t->n_pieces++] = len;
        int framing = detect(t->pending.data, t->pending.len);
        if (framing == FSMR_FRAMING_UNKNOWN) {
            if (t->n_pieces > FSMR_TEXT_MAX_HELD_PARTS || t->pending.len > FSMR_TEXT_MAX_PENDING) return stop(t);
            return FSMR_TEXT_OK;
        }
        t->framing = framing;
        if (framing == FSMR_FRAMING_TEXT) return replay_text(t, out);
        t->n_pieces = 0; /* events and lines do not depend on how the parts were cut */
    }
    int r = read_lines(t, out);
    compact(t);
    if (r == FSMR_TEXT_OK && t->pending.len > FSMR_TEXT_MAX_PENDING) r = stop(t);
    return r;
}

int fsmr_text_finish(fsmr_text *t, fsmr_bytes *out)
{
    (void)out;
    if (t->stopped) return FSMR_TEXT_HANDOVER;
    if (t->framing == FSMR_FRAMING_TEXT) {
        if (!t->held_len) return FSMR_TEXT_OK;
        t->pending.len = 0;
        if (fsmr_bytes_append(&t->pending, t->held, t->held_len) < 0) return no_memory(t);
        t->held_len = 0;
        return stop(t);
    }
    if (t->framing == FSMR_FRAMING_UNKNOWN) return t->pending.len ? stop(t) : FSMR_TEXT_OK; /* in its parts */
    return t->pending.len > t->block ? stop(t) : FSMR_TEXT_OK;
}
