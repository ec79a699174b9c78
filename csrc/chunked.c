/*
 * HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1), decoded
 * incrementally: a response body read straight off the socket in large
 * reads, rather than one HTTP chunk at a time through Python, which costs
 * more than decoding the event-stream message inside the chunk.
 *
 * It accepts what urllib3 (botocore's HTTP client) accepts from real
 * servers: LF alone may end a size or trailer line, whitespace may surround
 * the chunk size, extensions and trailer fields are skipped unread, and the
 * body may end without the blank line after the trailers. Where urllib3
 * reads garbage as chunks without complaint (any two bytes after the data in
 * place of CRLF; a size of "0x1f", "+5" or "1_0", which Python's int()
 * takes) it is an error here, with the offending byte's offset. The size
 * line and the trailer section are bounded (as in urllib3) so that no input
 * makes the decoder wait forever on one line.
 */
#include "fastsmr.h"

#include <string.h>

enum {
    S_SIZE_START = 0, /* before the first hex digit of a chunk size */
    S_SIZE,           /* in the hex digits */
    S_SIZE_AFTER,     /* whitespace after the size */
    S_EXTENSION,      /* after ';', skipped up to the line end */
    S_SIZE_LF,        /* CR seen at the end of the size line */
    S_DATA,           /* chunk_left data bytes to go */
    S_DATA_END,       /* the CRLF after the data */
    S_DATA_LF,        /* its CR seen */
    S_TRAILER_START,  /* at the start of a trailer line (or the final empty line) */
    S_TRAILER,        /* in a trailer field, skipped up to LF */
    S_TRAILER_LF,     /* CR seen on the final empty line */
    S_DONE
};

void fsmr_chunked_init(fsmr_chunked *dec)
{
    memset(dec, 0, sizeof *dec);
    dec->state = S_SIZE_START;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20; /* ASCII lower case */
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static fsmr_chunked_status fail(fsmr_error *err, fsmr_error_code code, uint64_t offset, uint64_t expected,
                                uint64_t found)
{
    err->code = code;
    err->offset = offset;
    err->expected = expected;
    err->found = found;
    err->extra = 0;
    return FSMR_CHUNKED_ERROR;
}

/* The size line has ended: data follows, or the trailer section. */
static void size_line_done(fsmr_chunked *dec)
{
    dec->state = dec->chunk_left ? S_DATA : S_TRAILER_START;
    dec->line_length = 0;
}

/* A byte after the chunk size's digits; 0 if it cannot follow them. */
static int after_size(fsmr_chunked *dec, uint8_t c)
{
    if (c == ' ' || c == '\t') {
        dec->state = S_SIZE_AFTER;
    } else if (c == ';') {
        dec->state = S_EXTENSION;
    } else if (c == '\r') {
        dec->state = S_SIZE_LF;
    } else if (c == '\n') {
        size_line_done(dec);
    } else {
        return 0;
    }
    return 1;
}

fsmr_chunked_status fsmr_chunked_decode(fsmr_chunked *dec, const uint8_t *data, size_t len, uint8_t *out,
                                        size_t *out_length, size_t *consumed, fsmr_error *err)
{
    size_t i = 0, written = 0;
    fsmr_chunked_status status = FSMR_CHUNKED_NEED_INPUT;

    while (i < len && dec->state != S_DONE) {
        if (dec->state == S_DATA) {
            size_t take = len - i;
            if ((uint64_t)take > dec->chunk_left) {
                take = (size_t)dec->chunk_left;
            }
            memcpy(out + written, data + i, take);
            written += take;
            i += take;
            dec->chunk_left -= take;
            if (dec->chunk_left == 0) {
                dec->state = S_DATA_END;
            }
            continue;
        }
        uint8_t c = data[i];
        uint64_t at = dec->offset + i;
        if (dec->state != S_DATA_END && dec->state != S_DATA_LF && ++dec->line_length > FSMR_CHUNKED_MAX_LINE) {
            status = fail(err, FSMR_ERR_CHUNK_LINE_LENGTH, at, FSMR_CHUNKED_MAX_LINE, dec->line_length);
            break;
        }
        i++;
        switch (dec->state) {
        case S_SIZE_START:
        case S_SIZE: {
            int v = hex_value(c);
            if (v >= 0) {
                if (dec->chunk_left >> 60) {
                    status = fail(err, FSMR_ERR_CHUNK_SIZE_OVERFLOW, at, 0, 0);
                    goto out;
                }
                dec->chunk_left = dec->chunk_left << 4 | (uint64_t)v;
                dec->state = S_SIZE;
                continue;
            }
            if (dec->state == S_SIZE_START) {
                if (c == ' ' || c == '\t') {
                    continue; /* whitespace before the size */
                }
                status = fail(err, FSMR_ERR_CHUNK_SIZE, at, 0, c);
                goto out;
            }
            if (!after_size(dec, c)) { /* the size is complete: c is what follows it */
                status = fail(err, FSMR_ERR_CHUNK_SIZE_LINE, at, 0, c);
                goto out;
            }
            continue;
        }
        case S_SIZE_AFTER:
            if (!after_size(dec, c)) {
                status = fail(err, FSMR_ERR_CHUNK_SIZE_LINE, at, 0, c);
                goto out;
            }
            continue;
        case S_EXTENSION:
            if (c == '\r') {
                dec->state = S_SIZE_LF;
            } else if (c == '\n') {
                size_line_done(dec);
            }
            continue;
        case S_SIZE_LF:
            if (c != '\n') {
                status = fail(err, FSMR_ERR_CHUNK_LINE_END, at, 0, c);
                goto out;
            }
            size_line_done(dec);
            continue;
        case S_DATA_END:
            if (c != '\r') {
                status = fail(err, FSMR_ERR_CHUNK_DATA_END, at, 0, c);
                goto out;
            }
            dec->state = S_DATA_LF;
            continue;
        case S_DATA_LF:
            if (c != '\n') {
                status = fail(err, FSMR_ERR_CHUNK_LINE_END, at, 0, c);
                goto out;
            }
            dec->state = S_SIZE_START;
            dec->line_length = 0;
            continue;
        case S_TRAILER_START:
            dec->state = c == '\r' ? S_TRAILER_LF : c == '\n' ? S_DONE : S_TRAILER;
            continue;
        case S_TRAILER:
            if (c == '\n') {
                dec->state = S_TRAILER_START;
            }
            continue;
        case S_TRAILER_LF:
            if (c != '\n') {
                status = fail(err, FSMR_ERR_CHUNK_LINE_END, at, 0, c);
                goto out;
            }
            dec->state = S_DONE;
            continue;
        }
    }
    if (dec->state == S_DONE) {
        status = FSMR_CHUNKED_END;
    }
out:
    if (status == FSMR_CHUNKED_ERROR) {
        i = (size_t)(err->offset - dec->offset); /* the offending byte is not consumed */
    }
    dec->offset += i;
    *out_length = written;
    *consumed = i;
    return status;
}

fsmr_error_code fsmr_chunked_finish(const fsmr_chunked *dec, fsmr_error *err)
{
    if (dec->state >= S_TRAILER_START) {
        return FSMR_OK;
    }
    if (dec->state == S_DATA) {
        fail(err, FSMR_ERR_CHUNK_DATA_LEFT, dec->offset, 0, dec->chunk_left);
    } else {
        fail(err, FSMR_ERR_CHUNK_NO_LAST, dec->offset, 0, 0);
    }
    return err->code;
}
