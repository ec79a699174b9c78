# Included by _codec_c.pyx: the binding of csrc/mux.c and csrc/text.c, with
# the API of _mux_py.Mux (reports as codec/muxing.py describes them).
#
# Free-threading: a Mux lets one call in at a time (its busy flag, under its
# critical section), except wake(), which only writes to an eventfd; so does
# a TextEvents.

from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno
from libc.errno cimport EEXIST, errno

from . import muxing as _muxing

cdef extern from "text.h" nogil:
    ctypedef struct fsmr_bytes:
        uint8_t *data
        size_t len
        size_t cap
    void fsmr_bytes_free(fsmr_bytes *b)
    ctypedef struct fsmr_text:
        int framing
        int stopped
        fsmr_bytes pending
        uint64_t base
        size_t pieces[17]
        int n_pieces
    enum:
        FSMR_TEXT_OK
        FSMR_TEXT_HANDOVER
        FSMR_TEXT_NO_MEMORY
        FSMR_TEXT_MAX_HELD_PARTS
    void fsmr_text_init(fsmr_text *t, int format)
    void fsmr_text_free(fsmr_text *t)
    int fsmr_text_feed(fsmr_text *t, const uint8_t *data, size_t len, fsmr_bytes *out)
    int fsmr_text_finish(fsmr_text *t, fsmr_bytes *out)

cdef extern from "mux.h" nogil:
    ctypedef struct fsmr_mux:
        pass
    ctypedef struct fsmr_mux_body:
        int fd
        int end
        int end_reported
        fsmr_error err
        int os_error
        uint64_t truncated_have
        uint64_t truncated_offset
        uint8_t *out
        size_t *ends
        size_t n_parts
        uint8_t *msg_headers
        uint8_t *msg_payload
        uint32_t msg_headers_length
        uint32_t msg_payload_length
        uint32_t msg_prelude_crc
        uint32_t msg_crc
        uint32_t msg_total_length
        uint64_t msg_offset
        int has_text
        fsmr_text text
        int handover
        fsmr_bytes events
        int relay_fd
        int relay_end
        int relay_errno
        double timeout
    enum:
        FSMR_MUX_OPEN
        FSMR_MUX_END
        FSMR_MUX_END_UNUSED
        FSMR_MUX_MESSAGE
        FSMR_MUX_DECODE_ERROR
        FSMR_MUX_CHUNKED_ERROR
        FSMR_MUX_TRUNCATED
        FSMR_MUX_OS_ERROR
        FSMR_MUX_TIMEOUT
        FSMR_MUX_NO_MEMORY
        FSMR_MUX_STOPPED
        FSMR_RELAY_OPEN
        FSMR_RELAY_FLUSHED
        FSMR_RELAY_ERROR
        FSMR_RELAY_TIMEOUT
        FSMR_HANDOVER_NONE
        FSMR_HANDOVER_DUE
        FSMR_HANDOVER_DONE
    fsmr_mux *fsmr_mux_new()
    void fsmr_mux_free(fsmr_mux *m)
    int fsmr_mux_fileno(const fsmr_mux *m)
    fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout, int text, int relay_fd, size_t limit)
    void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t length)
    void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b)
    int fsmr_mux_send(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t length)
    void fsmr_mux_flush(fsmr_mux *m, fsmr_mux_body *b)
    void fsmr_mux_hold(fsmr_mux *m, fsmr_mux_body *b, int held)
    int fsmr_mux_wake(fsmr_mux *m)
    int fsmr_mux_poll(fsmr_mux *m, double timeout)
    fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m)
    void fsmr_mux_taken(fsmr_mux_body *b)
    double fsmr_mux_timeout(const fsmr_mux *m)

#: Mux.poll's end value for a body read to its last chunk, the connection reusable.
MUX_END = FSMR_MUX_END
#: The same when bytes followed the last chunk (the connection is not reusable).
MUX_END_UNUSED = FSMR_MUX_END_UNUSED

cdef dict _TEXT_CODES = {"auto": 0, "tgi": 1, "lmi": 2, "openai": 3, "raw": 4}
cdef tuple _FRAMINGS = (None, "sse", "jsonl", "text")


cdef int _text_code(object text) except -2:
    if text is None:
        return -1
    code = _TEXT_CODES.get(text)
    if code is None:
        raise ValueError(f"unknown text format {text!r}; expected one of {', '.join(_muxing.TEXT_FORMATS)}")
    return code


cdef tuple _handover_of(fsmr_text *t):
    """(offset, framing, pieces): where a Python TextDecoder takes over."""
    cdef list pieces = []
    cdef size_t at = 0, size
    cdef int i
    data = PyBytes_FromStringAndSize(<const char *>t.pending.data, t.pending.len)
    if t.n_pieces == 0:
        pieces.append(data)
    else:
        for i in range(t.n_pieces):
            size = t.pieces[i]
            pieces.append(data[at:at + size])
            at += size
    return (t.base, _FRAMINGS[t.framing], pieces)


@cython.final
cdef class TextEvents:
    """The text fast path alone (csrc/text.c), for tests and fuzzing:
    ``feed(part)`` and ``finish()`` return ``(events, handover)``, the
    Server-Sent Events made (bytes) and None, or, once, the handover
    (``(offset, framing, pieces)``, as in codec/muxing.py) after which the
    caller's Python decoder reads the rest."""

    cdef fsmr_text _t
    cdef bint _busy

    def __cinit__(self, str format not None):
        fsmr_text_init(&self._t, _text_code(format))

    def __dealloc__(self):
        fsmr_text_free(&self._t)

    cdef int _enter(self) except -1:
        cdef bint was_busy
        with cython.critical_section(self):
            was_busy = self._busy
            self._busy = True
        if was_busy:
            raise RuntimeError("a TextEvents is used by one thread at a time")
        return 0

    cdef tuple _result(self, int status, fsmr_bytes *out):
        events = PyBytes_FromStringAndSize(<const char *>out.data, out.len)
        fsmr_bytes_free(out)
        if status == FSMR_TEXT_NO_MEMORY:
            raise MemoryError()
        return events, _handover_of(&self._t) if status == FSMR_TEXT_HANDOVER else None

    def feed(self, part):
        cdef Py_buffer view
        cdef fsmr_bytes out
        cdef int status
        if self._t.stopped:
            raise RuntimeError("the text was handed over")
        self._enter()
        try:
            memset(&out, 0, sizeof(out))
            PyObject_GetBuffer(part, &view, PyBUF_SIMPLE)
            try:
                status = fsmr_text_feed(&self._t, <const uint8_t *>view.buf, <size_t>view.len, &out)
            finally:
                PyBuffer_Release(&view)
            return self._result(status, &out)
        finally:
            self._busy = False

    def finish(self):
        cdef fsmr_bytes out
        if self._t.stopped:
            raise RuntimeError("the text was handed over")
        self._enter()
        try:
            memset(&out, 0, sizeof(out))
            return self._result(fsmr_text_finish(&self._t, &out), &out)
        finally:
            self._busy = False


# The keys are held by the two dicts only, where the cycle collector sees
# them: a key (a mux.Stream) leads back to the Mux's owner through its relay
# task, and a reference the collector cannot see would keep that cycle for
# ever. no_gc_clear: the dicts stay while the collector breaks a cycle
# elsewhere, so that no method finds them gone.
@cython.no_gc_clear
@cython.final
cdef class Mux:
    """Reads many chunked event-stream bodies from one epoll set (Linux); see ``_mux_py.Mux``.

    ``poll`` waits, reads, de-chunks, decodes, makes text and writes relays
    with the GIL released, and takes it back once to build the batch's
    reports. It also makes the text of bodies added with ``text=``
    (csrc/text.c), handing it over to Python where the fast path stops.
    """

    #: The text formats this multiplexer makes the text of itself.
    TEXT_FORMATS = _muxing.TEXT_FORMATS

    cdef fsmr_mux *_m
    cdef dict _bodies   # key -> address of its fsmr_mux_body
    cdef dict _keys     # that address -> key
    cdef bint _busy

    def __cinit__(self):
        self._m = fsmr_mux_new()
        if self._m == NULL:
            PyErr_SetFromErrno(OSError)
        self._bodies = {}
        self._keys = {}

    def __dealloc__(self):
        if self._m != NULL:
            self._free()

    cdef void _free(self) noexcept:
        self._bodies.clear()
        self._keys.clear()
        fsmr_mux_free(self._m)
        self._m = NULL

    cdef int _enter(self) except -1:
        cdef bint was_busy
        with cython.critical_section(self):
            was_busy = self._busy
            self._busy = True
        if was_busy:
            raise RuntimeError("a Mux is used by one thread at a time")
        if self._m == NULL:
            self._busy = False
            raise _muxing.closed()
        return 0

    cdef void _leave(self) noexcept:
        self._busy = False

    cdef fsmr_mux_body *_body(self, key):
        """key's body, or NULL if it is not (or no longer) read."""
        entry = self._bodies.get(key)
        return NULL if entry is None else <fsmr_mux_body *><size_t>entry

    def fileno(self):
        """The epoll descriptor: readable when ``poll(0)`` may have something to report."""
        return fsmr_mux_fileno(self._m) if self._m != NULL else -1

    def __len__(self):
        return len(self._bodies)

    def add(self, key, fd, buffered=b"", timeout=None, text=None, relay=None, size_t limit=_muxing.DEFAULT_LIMIT):
        """Read the body on socket ``fd`` from now on, reported under ``key`` (see ``_mux_py.Mux.add``)."""
        cdef fsmr_mux_body *b
        cdef Py_buffer view
        cdef int c_fd
        timeout = _muxing.check_timeout(timeout)
        cdef double t = -1.0 if timeout is None else timeout
        cdef int code = _text_code(text)
        cdef int relay_fd = -1 if relay is None else relay
        if relay is not None and relay_fd < 0:
            raise ValueError("relay must be a file descriptor")
        _get_bytes(buffered, &view)  # refused before anything is added
        try:
            self._enter()
            try:
                if key in self._bodies:
                    raise _muxing.already_read(key)
                c_fd = PyNumber_Index(fd)  # what os.dup() takes: an int, not a float or a str
                b = fsmr_mux_add(self._m, c_fd, t, code, relay_fd, limit)
                if b == NULL:
                    if errno == EEXIST:
                        raise _muxing.descriptor_taken(fd, relay)
                    PyErr_SetFromErrno(OSError)
                self._bodies[key] = <size_t>b
                self._keys[<size_t>b] = key
                fsmr_mux_feed(self._m, b, <const uint8_t *>view.buf, <size_t>view.len)
            finally:
                self._leave()
        finally:
            PyBuffer_Release(&view)

    def remove(self, key):
        self._enter()
        try:
            entry = self._bodies.pop(key, None)
            if entry is not None:
                del self._keys[entry]
                fsmr_mux_remove(self._m, <fsmr_mux_body *><size_t>entry)
        finally:
            self._leave()

    def send(self, key, data):
        cdef Py_buffer view
        cdef int r
        cdef fsmr_mux_body *b
        _get_bytes(data, &view)  # refused whether or not the key is read, as by the pure twin
        try:
            self._enter()
            try:
                b = self._body(key)
                if b == NULL:
                    return
                r = fsmr_mux_send(self._m, b, <const uint8_t *>view.buf, <size_t>view.len)
                if r < 0:
                    raise MemoryError()
            finally:
                self._leave()
        finally:
            PyBuffer_Release(&view)

    def flush(self, key):
        cdef fsmr_mux_body *b
        self._enter()
        try:
            b = self._body(key)
            if b != NULL:
                fsmr_mux_flush(self._m, b)
        finally:
            self._leave()

    def hold(self, key, bint held):
        cdef fsmr_mux_body *b
        self._enter()
        try:
            b = self._body(key)
            if b != NULL:
                fsmr_mux_hold(self._m, b, held)
        finally:
            self._leave()

    def wake(self):
        if self._m != NULL:
            fsmr_mux_wake(self._m)

    def timeout(self):
        if self._m == NULL:
            return None
        cdef double t = fsmr_mux_timeout(self._m)
        return None if t < 0 else t

    def poll(self, timeout=None):
        """Wait up to ``timeout`` seconds (None: until something happens) and
        return a report for every body with something to report (see codec/muxing.py)."""
        cdef double t = -1.0 if timeout is None else max(0.0, float(timeout))
        cdef int n
        cdef fsmr_mux_body *b
        cdef size_t i, start
        cdef list reports = [], parts
        cdef object key, events, handover, end
        self._enter()
        try:
            with nogil:
                n = fsmr_mux_poll(self._m, t)
            if n < 0:
                PyErr_SetFromErrno(OSError)
            if n == 0:
                PyErr_CheckSignals()  # epoll_wait was interrupted by a signal, perhaps
            while True:
                b = fsmr_mux_next_ready(self._m)
                if b == NULL:
                    break
                key = self._keys[<size_t>b]
                parts = []
                start = 0
                for i in range(b.n_parts):
                    parts.append(PyBytes_FromStringAndSize(<const char *>b.out + start, b.ends[i] - start))
                    start = b.ends[i]
                events = None
                if b.has_text:
                    events = PyBytes_FromStringAndSize(<const char *>b.events.data, b.events.len)
                fsmr_mux_taken(b)
                handover = None
                if b.handover == FSMR_HANDOVER_DUE:
                    handover = _handover_of(&b.text)
                    b.handover = FSMR_HANDOVER_DONE
                end = None
                if b.end != FSMR_MUX_OPEN and b.end != FSMR_MUX_STOPPED and not b.end_reported:
                    b.end_reported = 1
                    end = self._end_of(b)
                if end is not None or handover is not None or parts or events:
                    reports.append((key, parts, events, handover, end))
                if b.relay_end != FSMR_RELAY_OPEN:
                    reports.append((key, [], None if events is None else b"", None, self._relay_end_of(b)))
                elif b.relay_fd >= 0 or not b.end_reported:
                    continue  # a relay is over when it says so; a body when its end is reported
                del self._bodies[key], self._keys[<size_t>b]
                fsmr_mux_remove(self._m, b)
        finally:
            self._leave()
        return reports

    cdef object _relay_end_of(self, fsmr_mux_body *b):
        if b.relay_end == FSMR_RELAY_FLUSHED:
            return _muxing.FLUSHED
        if b.relay_end == FSMR_RELAY_TIMEOUT:
            return _muxing.DownstreamFailed(_muxing.downstream_timeout(b.timeout))
        return _muxing.DownstreamFailed(OSError(b.relay_errno, _strerror(b.relay_errno)))

    cdef object _end_of(self, fsmr_mux_body *b):
        cdef int end = b.end
        cdef Decoder decoder
        if end == FSMR_MUX_END or end == FSMR_MUX_END_UNUSED:
            return end
        if end == FSMR_MUX_MESSAGE:
            decoder = Decoder()
            try:  # raises what the Python decoder raises for a bad header block
                headers = decoder._headers(b.msg_headers, b.msg_headers_length, b.msg_offset + 12)
            except DecodeError as error:
                return error
            payload = PyBytes_FromStringAndSize(<const char *>b.msg_payload, b.msg_payload_length)
            return Message(headers, payload, b.msg_prelude_crc, b.msg_crc, b.msg_total_length)
        if end == FSMR_MUX_DECODE_ERROR:
            return _framing_error(&b.err)
        if end == FSMR_MUX_CHUNKED_ERROR:
            return ChunkedEncodingError(_CHUNK_PROBLEMS[b.err.code], b.err.offset, b.err.found)
        if end == FSMR_MUX_TRUNCATED:
            return TruncatedStreamError(b.truncated_have, b.truncated_offset)
        if end == FSMR_MUX_OS_ERROR:
            return OSError(b.os_error, _strerror(b.os_error))
        if end == FSMR_MUX_TIMEOUT:
            return _muxing.read_timeout(b.timeout)
        return MemoryError()

    def close(self):
        if self._m == NULL:  # closed already: a no-op, as for a file
            return
        self._enter()
        try:
            self._free()
        finally:
            self._busy = False


def _strerror(int code):
    import os

    return os.strerror(code)
