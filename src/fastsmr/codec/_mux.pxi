# Included by _codec_c.pyx: the binding of csrc/mux.c, with the API of _mux_py.Mux.
#
# Free-threading: a Mux lets one call in at a time (its busy flag, under its
# critical section), except wake(), which only writes to an eventfd.

from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno

cdef extern from "mux.h" nogil:
    ctypedef struct fsmr_mux:
        pass
    ctypedef struct fsmr_mux_body:
        int fd
        int end
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
    fsmr_mux *fsmr_mux_new()
    void fsmr_mux_free(fsmr_mux *m)
    int fsmr_mux_fileno(const fsmr_mux *m)
    size_t fsmr_mux_count(const fsmr_mux *m)
    fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout)
    void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t length)
    void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b)
    int fsmr_mux_wake(fsmr_mux *m)
    int fsmr_mux_poll(fsmr_mux *m, double timeout)
    fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m)
    void fsmr_mux_taken(fsmr_mux_body *b)
    double fsmr_mux_timeout(const fsmr_mux *m)

#: Mux.poll's end value for a body read to its last chunk, the connection reusable.
MUX_END = FSMR_MUX_END
#: The same when bytes followed the last chunk (the connection is not reusable).
MUX_END_UNUSED = FSMR_MUX_END_UNUSED


@cython.final
cdef class Mux:
    """Reads many chunked event-stream bodies from one epoll set (Linux); see ``_mux_py.Mux``.

    ``poll`` waits, reads, de-chunks and decodes with the GIL released, and
    takes it back once to build the batch's bytes objects.
    """

    cdef fsmr_mux *_m
    cdef dict _bodies   # fd -> (address of its fsmr_mux_body, timeout)
    cdef bint _busy

    def __cinit__(self):
        self._m = fsmr_mux_new()
        if self._m == NULL:
            PyErr_SetFromErrno(OSError)
        self._bodies = {}

    def __dealloc__(self):
        if self._m != NULL:
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
            raise ValueError("the Mux is closed")
        return 0

    cdef void _leave(self) noexcept:
        self._busy = False

    def fileno(self):
        """The epoll descriptor: readable when ``poll(0)`` may have something to report."""
        return fsmr_mux_fileno(self._m) if self._m != NULL else -1

    def __len__(self):
        return len(self._bodies)

    def add(self, int fd, buffered=b"", timeout=None):
        """Read the body on socket ``fd`` from now on (the socket is not closed when it ends)."""
        cdef fsmr_mux_body *b
        cdef Py_buffer view
        cdef double t = -1.0 if timeout is None else float(timeout)
        if t < -0.0:
            raise ValueError("timeout must be >= 0 or None")
        self._enter()
        try:
            if fd in self._bodies:
                raise ValueError(f"descriptor {fd} is already being read")
            b = fsmr_mux_add(self._m, fd, t)
            if b == NULL:
                PyErr_SetFromErrno(OSError)
            self._bodies[fd] = (<size_t>b, timeout)
            PyObject_GetBuffer(buffered, &view, PyBUF_SIMPLE)
            try:
                fsmr_mux_feed(self._m, b, <const uint8_t *>view.buf, <size_t>view.len)
            finally:
                PyBuffer_Release(&view)
        finally:
            self._leave()

    def remove(self, int fd):
        """Stop reading the body on ``fd`` (nothing more is reported for it)."""
        self._enter()
        try:
            entry = self._bodies.pop(fd, None)
            if entry is not None:
                fsmr_mux_remove(self._m, <fsmr_mux_body *><size_t>entry[0])
        finally:
            self._leave()

    def wake(self):
        """Make a ``poll`` in progress (in another thread) return now."""
        if self._m != NULL:
            fsmr_mux_wake(self._m)

    def timeout(self):
        """Seconds until the first body's timeout runs out (None: no body has one)."""
        if self._m == NULL:
            return None
        cdef double t = fsmr_mux_timeout(self._m)
        return None if t < 0 else t

    def poll(self, timeout=None):
        """Wait up to ``timeout`` seconds (None: until something happens) and
        return ``(fd, parts, end)`` for every body with parts or an end."""
        cdef double t = -1.0 if timeout is None else max(0.0, float(timeout))
        cdef int n
        cdef fsmr_mux_body *b
        cdef size_t i, start
        cdef list reports = [], parts
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
                parts = []
                start = 0
                for i in range(b.n_parts):
                    parts.append(PyBytes_FromStringAndSize(<const char *>b.out + start, b.ends[i] - start))
                    start = b.ends[i]
                fsmr_mux_taken(b)
                fd = b.fd
                if b.end == FSMR_MUX_OPEN:
                    reports.append((fd, parts, None))
                    continue
                try:
                    end = self._end_of(b)
                finally:
                    timeout_of = self._bodies.pop(fd)[1]
                    fsmr_mux_remove(self._m, b)
                if type(end) is TimeoutError:
                    end = TimeoutError(f"no data for {timeout_of:g} s")
                reports.append((fd, parts, end))
        finally:
            self._leave()
        return reports

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
            return TimeoutError()
        return MemoryError()

    def close(self):
        """Stop reading every body (their sockets stay open) and free the epoll set."""
        self._enter()
        try:
            fsmr_mux_free(self._m)
            self._m = NULL
            self._bodies.clear()
        finally:
            self._busy = False


def _strerror(int code):
    import os

    return os.strerror(code)
