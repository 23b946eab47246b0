/* Optional C versions of josef's per-record hot spots: murmur2 partitioning, the encoding of a
 * batch's records, and send()'s common case (send_fast). josef/_core/partitioner.py, josef/_core/records.py
 * and Producer.send with Accumulator.append hold the pure Python definitions; tests run both and
 * require identical results. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static uint32_t
murmur2_of(const uint8_t *data, uint32_t length)
{
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ length;
    uint32_t blocks = length / 4;
    for (uint32_t i = 0; i < blocks; i++) {
        const uint8_t *p = data + 4 * i;
        uint32_t k = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = data + 4 * blocks;
    switch (length & 3) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

static PyObject *
speedups_murmur2(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    uint32_t h = murmur2_of((const uint8_t *)view.buf, (uint32_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(h);
}

/* Zig-zag varint size and writer, as record fields use them. */
static inline int
varint_size(int64_t value)
{
    uint64_t z = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    int n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

static inline char *
write_varint(char *out, int64_t value)
{
    uint64_t z = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    while (z >= 0x80) {
        *out++ = (char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    *out++ = (char)z;
    return out;
}

typedef struct {
    int64_t ts_delta;
    const char *key;
    Py_ssize_t key_len; /* -1: null */
    const char *value;
    Py_ssize_t value_len;
    const char *headers; /* NULL: no headers (one 0x00 byte) */
    Py_ssize_t headers_len;
    Py_ssize_t body;
} RecordView;

static int
optional_bytes(PyObject *obj, const char **data, Py_ssize_t *len, const char *what)
{
    if (obj == Py_None) {
        *data = NULL;
        *len = -1;
        return 0;
    }
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "record %s must be bytes or None", what);
        return -1;
    }
    *data = PyBytes_AS_STRING(obj);
    *len = PyBytes_GET_SIZE(obj);
    return 0;
}

#define ENCODE_NOGIL_MIN (256 * 1024) /* bytes of records section copied with the GIL released */

/* Sets v->body; returns the record's whole size (its length varint and body). */
static inline Py_ssize_t
record_size(RecordView *v, Py_ssize_t offset_delta)
{
    Py_ssize_t body = 1 + varint_size(v->ts_delta) + varint_size(offset_delta);
    body += varint_size(v->key_len) + (v->key_len > 0 ? v->key_len : 0);
    body += varint_size(v->value_len) + (v->value_len > 0 ? v->value_len : 0);
    body += v->headers ? v->headers_len : 1;
    v->body = body;
    return varint_size(body) + body;
}

static inline char *
write_record(char *p, const RecordView *v, Py_ssize_t offset_delta)
{
    p = write_varint(p, v->body);
    *p++ = 0; /* attributes */
    p = write_varint(p, v->ts_delta);
    p = write_varint(p, offset_delta);
    p = write_varint(p, v->key_len);
    if (v->key_len > 0) {
        memcpy(p, v->key, v->key_len);
        p += v->key_len;
    }
    p = write_varint(p, v->value_len);
    if (v->value_len > 0) {
        memcpy(p, v->value, v->value_len);
        p += v->value_len;
    }
    if (v->headers) {
        memcpy(p, v->headers, v->headers_len);
        p += v->headers_len;
    } else {
        *p++ = 0;
    }
    return p;
}

/* Views of the records (4-tuples) and the bytes they take from ``first_offset`` on, with ``*seq`` holding
 * them (release both when done); NULL on error. */
static RecordView *
record_views(PyObject *records, long long base_ts, Py_ssize_t first_offset, PyObject **seq, Py_ssize_t *total)
{
    if (first_offset < 0) {
        PyErr_SetString(PyExc_ValueError, "first_offset must not be negative");
        return NULL;
    }
    *seq = PySequence_Fast(records, "records must be a sequence");
    if (*seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(*seq);
    PyObject **items = PySequence_Fast_ITEMS(*seq);
    RecordView *views = PyMem_Malloc(sizeof(RecordView) * (count ? count : 1));
    if (views == NULL) {
        Py_CLEAR(*seq);
        PyErr_NoMemory();
        return NULL;
    }
    *total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *rec = items[i];
        if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) != 4) {
            PyErr_SetString(PyExc_TypeError, "each record must be a 4-tuple");
            goto fail;
        }
        RecordView *v = &views[i];
        long long ts = PyLong_AsLongLong(PyTuple_GET_ITEM(rec, 0));
        if (ts == -1 && PyErr_Occurred())
            goto fail;
        v->ts_delta = (int64_t)ts - (int64_t)base_ts;
        if (optional_bytes(PyTuple_GET_ITEM(rec, 1), &v->key, &v->key_len, "key") < 0 ||
            optional_bytes(PyTuple_GET_ITEM(rec, 2), &v->value, &v->value_len, "value") < 0 ||
            optional_bytes(PyTuple_GET_ITEM(rec, 3), &v->headers, &v->headers_len, "headers") < 0)
            goto fail;
        *total += record_size(v, first_offset + i);
    }
    return views;
fail:
    PyMem_Free(views);
    Py_CLEAR(*seq);
    return NULL;
}

static PyObject *
speedups_encode_records(PyObject *self, PyObject *args)
{
    PyObject *records, *seq;
    long long base_ts;
    Py_ssize_t first_offset = 0, total;
    if (!PyArg_ParseTuple(args, "OL|n", &records, &base_ts, &first_offset))
        return NULL;
    RecordView *views = record_views(records, base_ts, first_offset, &seq, &total);
    if (views == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, total);
    if (out == NULL) {
        PyMem_Free(views);
        Py_DECREF(seq);
        return NULL;
    }
    char *p = PyByteArray_AS_STRING(out);
    /* A large section is copied without the GIL, so another thread runs meanwhile on the other core.
     * The views point into bytes objects the records hold: a tuple of the records keeps them alive even
     * if the list changed meanwhile. Below the threshold the hand-off would cost more than the copy. */
    PyObject *keep = NULL;
    PyThreadState *released = NULL;
    if (total >= ENCODE_NOGIL_MIN) {
        keep = PySequence_Tuple(seq);
        if (keep == NULL) {
            Py_DECREF(out);
            PyMem_Free(views);
            Py_DECREF(seq);
            return NULL;
        }
        released = PyEval_SaveThread();
    }
    for (Py_ssize_t i = 0; i < count; i++)
        p = write_record(p, &views[i], first_offset + i);
    if (released != NULL)
        PyEval_RestoreThread(released);
    Py_XDECREF(keep);
    PyMem_Free(views);
    Py_DECREF(seq);
    return out;
}

/* Room in ``buf`` (a batch's header room and records section, a bytearray) for ``want`` bytes in all,
 * without changing what it holds: grown at once to what the batch may hold (``limit`` uncompressed
 * bytes, the header and some slack: memory ``buffer.memory`` already counts for the batch), so it is
 * copied at most once while it fills, not the many times of bytearray's own growth by an eighth.
 * 0, or -1 with an error set. */
static int
reserve(PyObject *buf, Py_ssize_t want, long long limit)
{
    PyByteArrayObject *b = (PyByteArrayObject *)buf;
    if ((b->ob_start - b->ob_bytes) + want + 1 <= b->ob_alloc)
        return 0;
    Py_ssize_t had = PyByteArray_GET_SIZE(buf), capacity = 61 + (Py_ssize_t)limit + 256;
    if (capacity < want)
        capacity = want + want / 8;
    if (PyByteArray_Resize(buf, capacity) < 0)
        return -1;
    /* Within the allocation: back to what it held, as bytearray's own shrink-in-place does. */
    Py_SET_SIZE(buf, had);
    PyByteArray_AS_STRING(buf)[had] = '\0';
    return 0;
}

static PyObject *
speedups_append_records(PyObject *self, PyObject *args)
{
    PyObject *buf, *records, *seq;
    long long base_ts, limit;
    Py_ssize_t first_offset, total;
    if (!PyArg_ParseTuple(args, "O!OLnL", &PyByteArray_Type, &buf, &records, &base_ts, &first_offset, &limit))
        return NULL;
    RecordView *views = record_views(records, base_ts, first_offset, &seq, &total);
    if (views == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), had = PyByteArray_GET_SIZE(buf);
    if (reserve(buf, had + total, limit) < 0) {
        PyMem_Free(views);
        Py_DECREF(seq);
        return NULL;
    }
    Py_SET_SIZE(buf, had + total);
    char *p = PyByteArray_AS_STRING(buf);
    p[had + total] = '\0';
    p += had;
    for (Py_ssize_t i = 0; i < count; i++)
        p = write_record(p, &views[i], first_offset + i);
    PyMem_Free(views);
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

/* ---- send_fast: Producer.send() and Accumulator.append() for the common record ------------------
 *
 * The record is bytes or None for key and value, no headers, a valid or absent timestamp, an
 * absent or valid partition, and a topic whose metadata is known. Then, under the accumulator's lock
 * taken once, the record joins its batch exactly as the Python code would add it, and a RecordFuture
 * is returned. When the open batch has no room, the accumulator's own Python code chooses or opens the
 * next one (batch_without_waiting) and closes one the record fills (close_full): those decisions are
 * never copied here. Anything else, a wait for memory included, returns None before changing any
 * state, and send() goes on in Python: the Python code is the definition, this is a shortcut through
 * it (tests compare the batches both build). */

static PyTypeObject *future_type = NULL; /* josef.future.RecordFuture, a tuple subclass */
static PyTypeObject *batch_type = NULL;  /* josef._core.batch.ProducerBatch, with __slots__ */
static Py_ssize_t off_closed, off_size, off_limit, off_max_ts, off_result, off_buf, off_count, off_base_ts, off_max_record;
static Py_ssize_t off_finished, off_waiters; /* of josef.future.BatchResult */
static PyTypeObject *result_type = NULL;
static long long framing_estimate = 0;
static PyObject *s_closed, *s_topics, *s_leaders, *s_check_send;

static int
slot_offset(PyObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *descr = PyObject_GetAttrString(type, name);
    if (descr == NULL)
        return -1;
    if (Py_TYPE(descr) != &PyMemberDescr_Type || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s is not a __slots__ attribute", name);
        Py_DECREF(descr);
        return -1;
    }
    *offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    return 0;
}

static PyObject *
speedups_configure_send_fast(PyObject *self, PyObject *args)
{
    PyObject *batch, *future, *result;
    long long framing;
    if (!PyArg_ParseTuple(args, "O!O!O!L", &PyType_Type, &batch, &PyType_Type, &result, &PyType_Type, &future,
                          &framing))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)future, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the future type must be a tuple subclass");
        return NULL;
    }
    if (slot_offset(batch, "closed", &off_closed) < 0 || slot_offset(batch, "size", &off_size) < 0 ||
        slot_offset(batch, "limit", &off_limit) < 0 || slot_offset(batch, "max_ts", &off_max_ts) < 0 ||
        slot_offset(batch, "result", &off_result) < 0 || slot_offset(batch, "buf", &off_buf) < 0 ||
        slot_offset(batch, "count", &off_count) < 0 || slot_offset(batch, "base_ts", &off_base_ts) < 0 ||
        slot_offset(batch, "max_record", &off_max_record) < 0 ||
        slot_offset(result, "finished", &off_finished) < 0 || slot_offset(result, "_waiters", &off_waiters) < 0)
        return NULL;
    Py_INCREF(result);
    Py_XSETREF(result_type, (PyTypeObject *)result);
    Py_INCREF(batch);
    Py_XSETREF(batch_type, (PyTypeObject *)batch);
    Py_INCREF(future);
    Py_XSETREF(future_type, (PyTypeObject *)future);
    framing_estimate = framing;
    Py_RETURN_NONE;
}

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* A small exact int slot, or -1 (not an int, or out of range). */
static long long
slot_int(PyObject *obj, Py_ssize_t offset)
{
    PyObject *value = SLOT(obj, offset);
    if (value == NULL || !PyLong_CheckExact(value))
        return -1;
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    return overflow ? -1 : n;
}

static int
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value) /* steals value */
{
    if (value == NULL)
        return -1;
    PyObject *old = SLOT(obj, offset);
    SLOT(obj, offset) = value;
    Py_XDECREF(old);
    return 0;
}

/* Milliseconds since the epoch, as int(time.time() * 1000) computes them. */
static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double seconds = (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) / 1e9;
    return (long long)(seconds * 1000.0);
}

/* The state tuple Producer builds once (see Producer.__init__ and Accumulator.send_fast_parts). A closed
 * or forked producer drops its send_fast; a closed accumulator makes every call fall back. */
enum {
    CTX_METADATA,
    CTX_ACCUMULATOR,
    CTX_ACQUIRE,
    CTX_RELEASE,
    CTX_OPEN,
    CTX_STICKY,
    CTX_TXN,
    CTX_MAX_PAYLOAD,
    CTX_HASH_KEYS,
    CTX_BATCH_FOR, /* Accumulator.batch_without_waiting */
    CTX_CLOSE_FULL, /* Accumulator.close_full */
    CTX_WAKE,       /* wakes the sender thread */
    CTX_SIZE
};


static PyObject *
speedups_send_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "send_fast(state, topic, value, key, partition, timestamp_ms, headers, callback)");
        return NULL;
    }
    PyObject *ctx = args[0], *topic = args[1], *value = args[2], *key = args[3];
    PyObject *partition_obj = args[4], *ts_obj = args[5], *headers = args[6], *callback = args[7];
    if (!PyTuple_CheckExact(ctx) || PyTuple_GET_SIZE(ctx) != CTX_SIZE || future_type == NULL) {
        PyErr_SetString(PyExc_TypeError, "send_fast: bad state (configure_send_fast first)");
        return NULL;
    }
    /* What the shortcut does not handle: the Python code will, raising where it must. */
    if (headers != Py_None || !PyUnicode_CheckExact(topic) ||
        (key != Py_None && !PyBytes_CheckExact(key)) || (value != Py_None && !PyBytes_CheckExact(value)) ||
        (callback != Py_None && !PyCallable_Check(callback)))
        Py_RETURN_NONE;
    PyObject *txn = PyTuple_GET_ITEM(ctx, CTX_TXN);
    if (txn != Py_None) { /* raises outside a transaction, as send() does */
        PyObject *ok = PyObject_CallMethodNoArgs(txn, s_check_send);
        if (ok == NULL)
            return NULL;
        Py_DECREF(ok);
    }
    long long timestamp;
    if (ts_obj == Py_None) {
        timestamp = now_ms();
    } else {
        if (!PyLong_CheckExact(ts_obj))
            Py_RETURN_NONE;
        int overflow;
        timestamp = PyLong_AsLongLongAndOverflow(ts_obj, &overflow);
        if (overflow || timestamp < 0)
            Py_RETURN_NONE;
    }
    Py_ssize_t key_size = key == Py_None ? -1 : PyBytes_GET_SIZE(key);
    Py_ssize_t value_size = value == Py_None ? -1 : PyBytes_GET_SIZE(value);
    long long payload = (key_size > 0 ? key_size : 0) + (value_size > 0 ? value_size : 0);
    long long max_payload = PyLong_AsLongLong(PyTuple_GET_ITEM(ctx, CTX_MAX_PAYLOAD));
    if (max_payload == -1 && PyErr_Occurred())
        return NULL;
    if (payload > max_payload)
        Py_RETURN_NONE; /* fails alone with RecordTooLargeError, in Python */

    PyObject *topics = PyObject_GetAttr(PyTuple_GET_ITEM(ctx, CTX_METADATA), s_topics);
    if (topics == NULL)
        return NULL;
    if (!PyDict_CheckExact(topics)) {
        Py_DECREF(topics);
        Py_RETURN_NONE;
    }
    PyObject *info = PyDict_GetItemWithError(topics, topic); /* borrowed: topics holds it */
    if (info == NULL) {
        Py_DECREF(topics);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE; /* metadata to wait for */
    }
    PyObject *leaders = PyObject_GetAttr(info, s_leaders);
    Py_DECREF(topics);
    if (leaders == NULL)
        return NULL;
    Py_ssize_t count = PyObject_Length(leaders);
    Py_DECREF(leaders);
    if (count < 0)
        return NULL;
    long partition = -1; /* -1: sticky */
    if (partition_obj != Py_None) {
        if (!PyLong_CheckExact(partition_obj))
            Py_RETURN_NONE;
        int overflow;
        long long p = PyLong_AsLongLongAndOverflow(partition_obj, &overflow);
        if (overflow || p < 0 || p >= count)
            Py_RETURN_NONE;
        partition = (long)p;
    } else if (key != Py_None && PyTuple_GET_ITEM(ctx, CTX_HASH_KEYS) == Py_True) {
        if (count <= 0)
            Py_RETURN_NONE;
        uint32_t h = murmur2_of((const uint8_t *)PyBytes_AS_STRING(key), (uint32_t)key_size);
        partition = (long)((h & 0x7fffffffu) % (uint32_t)count);
    }
    long long size = payload + framing_estimate;

    /* Under the accumulator's lock, taken once. Taking it may let other threads run: the topic's info
     * (what batch_without_waiting is given) is held from here, not borrowed from a dict the sender thread
     * may replace meanwhile. */
    Py_INCREF(info);
    PyObject *held = PyObject_CallNoArgs(PyTuple_GET_ITEM(ctx, CTX_ACQUIRE));
    if (held == NULL) {
        Py_DECREF(info);
        return NULL;
    }
    Py_DECREF(held);
    PyObject *result = NULL; /* what is returned: the future, None, or NULL on error */
    PyObject *batch = NULL;
    int wake = 0; /* the sender is to be woken, once the lock is released */
    PyObject *acc_closed = PyObject_GetAttr(PyTuple_GET_ITEM(ctx, CTX_ACCUMULATOR), s_closed);
    if (acc_closed == NULL)
        goto unlock;
    Py_DECREF(acc_closed);
    if (acc_closed != Py_False)
        goto fallback;
    if (partition < 0) {
        batch = PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, CTX_STICKY), topic);
    } else {
        PyObject *p = PyLong_FromLong(partition);
        if (p == NULL)
            goto unlock;
        PyObject *tp = PyTuple_Pack(2, topic, p);
        Py_DECREF(p);
        if (tp == NULL)
            goto unlock;
        batch = PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, CTX_OPEN), tp);
        Py_DECREF(tp);
    }
    if (batch == NULL && PyErr_Occurred())
        goto unlock;
    Py_XINCREF(batch);
    /* The open batch, if this record leaves it below its limit; else the batch Accumulator.append would
     * choose (opened if need be: a sticky partition picked, memory reserved), or None when that might
     * take a wait, which is Python's to do. */
    long long batch_size = -1, limit = -1;
    if (batch != NULL && Py_TYPE(batch) == batch_type && SLOT(batch, off_closed) == Py_False) {
        batch_size = slot_int(batch, off_size);
        limit = slot_int(batch, off_limit);
    }
    if (batch_size < 0 || limit < 0 || batch_size + size >= limit) {
        Py_CLEAR(batch);
        PyObject *call[4] = {topic, NULL, NULL, info};
        call[1] = PyLong_FromLong(partition);
        call[2] = PyLong_FromLongLong(size);
        PyObject *chosen = NULL;
        if (call[1] != NULL && call[2] != NULL)
            chosen = PyObject_Vectorcall(PyTuple_GET_ITEM(ctx, CTX_BATCH_FOR), call, 4, NULL);
        Py_XDECREF(call[1]);
        Py_XDECREF(call[2]);
        if (chosen == NULL)
            goto unlock;
        if (chosen == Py_None) {
            Py_DECREF(chosen);
            goto fallback;
        }
        if (!PyTuple_CheckExact(chosen) || PyTuple_GET_SIZE(chosen) != 2) {
            Py_DECREF(chosen);
            PyErr_SetString(PyExc_TypeError, "send_fast: batch_without_waiting must give (batch, wake)");
            goto unlock;
        }
        batch = Py_NewRef(PyTuple_GET_ITEM(chosen, 0));
        wake = PyTuple_GET_ITEM(chosen, 1) == Py_True;
        Py_DECREF(chosen);
        /* From here on the batch is open and the record must join it: any fallback leaves it to
         * Accumulator.append, which finds the same batch (the sticky or open one) and appends there. */
        if (Py_TYPE(batch) != batch_type || SLOT(batch, off_closed) != Py_False)
            goto fallback;
        batch_size = slot_int(batch, off_size);
        limit = slot_int(batch, off_limit);
        if (batch_size < 0 || limit < 0)
            goto fallback;
    }
    long long max_ts = slot_int(batch, off_max_ts);
    long long n_records = slot_int(batch, off_count), base_ts = slot_int(batch, off_base_ts);
    long long max_record = slot_int(batch, off_max_record);
    PyObject *buf = SLOT(batch, off_buf), *batch_result = SLOT(batch, off_result);
    if (n_records < 0 || max_record < 0 || buf == NULL || !PyByteArray_CheckExact(buf) || batch_result == NULL ||
        (n_records > 0 && base_ts < 0))
        goto fallback;
    PyObject *new_base = NULL; /* a batch's first record sets its base timestamp */
    if (n_records == 0) {
        base_ts = timestamp;
        new_base = ts_obj != Py_None ? Py_NewRef(ts_obj) : PyLong_FromLongLong(timestamp);
        if (new_base == NULL)
            goto unlock;
    }
    PyObject *waiters = NULL;
    if (callback != Py_None) {
        /* BatchResult.add(future, callback, True) without its lock: a batch still open (and this is,
         * under the accumulator's lock) cannot be completed, so only appends can race with this one. */
        if (Py_TYPE(batch_result) != result_type || SLOT(batch_result, off_finished) != Py_False ||
            (waiters = SLOT(batch_result, off_waiters)) == NULL || !PyList_CheckExact(waiters)) {
            Py_XDECREF(new_base);
            goto fallback;
        }
    }

    /* Everything that can fail comes first; the batch changes only once nothing can. */
    RecordView v = {(int64_t)timestamp - (int64_t)base_ts, NULL, -1, NULL, -1, NULL, 0, 0};
    if (key != Py_None) {
        v.key = PyBytes_AS_STRING(key);
        v.key_len = key_size;
    }
    if (value != Py_None) {
        v.value = PyBytes_AS_STRING(value);
        v.value_len = value_size;
    }
    Py_ssize_t had = PyByteArray_GET_SIZE(buf), want = had + record_size(&v, (Py_ssize_t)n_records);
    PyObject *ts = ts_obj != Py_None ? Py_NewRef(ts_obj) : PyLong_FromLongLong(timestamp);
    PyObject *future = future_type->tp_alloc(future_type, 5);
    PyObject *index = Py_NewRef(SLOT(batch, off_count)); /* this record's place: the count before it */
    PyObject *ksize = PyLong_FromSsize_t(key_size), *vsize = PyLong_FromSsize_t(value_size);
    PyObject *new_count = PyLong_FromLongLong(n_records + 1), *new_size = PyLong_FromLongLong(batch_size + size);
    PyObject *new_max = size > max_record ? PyLong_FromLongLong(size) : NULL;
    PyObject *waiter = NULL;
    if (ts == NULL || future == NULL || ksize == NULL || vsize == NULL || new_count == NULL || new_size == NULL ||
        (size > max_record && new_max == NULL) || reserve(buf, want, limit) < 0)
        goto failed;
    PyTuple_SET_ITEM(future, 0, Py_NewRef(batch_result));
    PyTuple_SET_ITEM(future, 1, index);
    index = NULL;
    PyTuple_SET_ITEM(future, 2, Py_NewRef(ts));
    PyTuple_SET_ITEM(future, 3, ksize);
    ksize = NULL;
    PyTuple_SET_ITEM(future, 4, vsize);
    vsize = NULL;
    if (waiters != NULL) {
        waiter = PyTuple_Pack(3, future, callback, Py_True);
        if (waiter == NULL || PyList_Append(waiters, waiter) < 0)
            goto failed;
        Py_CLEAR(waiter);
    }
    /* Nothing fails from here on but closing a batch this record filled. */
    Py_SET_SIZE(buf, want);
    PyByteArray_AS_STRING(buf)[want] = '\0';
    write_record(PyByteArray_AS_STRING(buf) + had, &v, (Py_ssize_t)n_records);
    set_slot(batch, off_count, new_count);
    set_slot(batch, off_size, new_size);
    if (new_base != NULL)
        set_slot(batch, off_base_ts, new_base);
    if (new_max != NULL)
        set_slot(batch, off_max_record, new_max);
    if (timestamp > max_ts)
        set_slot(batch, off_max_ts, Py_NewRef(ts));
    Py_DECREF(ts);
    result = future;
    if (batch_size + size >= limit) {
        PyObject *woken = PyObject_CallOneArg(PyTuple_GET_ITEM(ctx, CTX_CLOSE_FULL), batch);
        if (woken == NULL)
            Py_CLEAR(result);
        else {
            wake = wake || woken == Py_True;
            Py_DECREF(woken);
        }
    }
    goto unlock;
failed:
    Py_XDECREF(new_base);
    Py_XDECREF(ts);
    Py_XDECREF(future);
    Py_XDECREF(index);
    Py_XDECREF(ksize);
    Py_XDECREF(vsize);
    Py_XDECREF(new_count);
    Py_XDECREF(new_size);
    Py_XDECREF(new_max);
    Py_XDECREF(waiter);
    goto unlock;
fallback:
    result = Py_NewRef(Py_None);
unlock:
    Py_XDECREF(batch);
    Py_DECREF(info);
    {
        /* Release even when an error is set: keep it aside across the call. */
        PyObject *type, *val, *tb;
        PyErr_Fetch(&type, &val, &tb);
        PyObject *released = PyObject_CallNoArgs(PyTuple_GET_ITEM(ctx, CTX_RELEASE));
        if (released == NULL) {
            Py_XDECREF(type);
            Py_XDECREF(val);
            Py_XDECREF(tb);
            Py_XDECREF(result);
            return NULL;
        }
        Py_DECREF(released);
        PyErr_Restore(type, val, tb);
    }
    if (wake && result != NULL) {
        PyObject *woken = PyObject_CallNoArgs(PyTuple_GET_ITEM(ctx, CTX_WAKE));
        if (woken == NULL)
            Py_CLEAR(result);
        else
            Py_DECREF(woken);
    }
    return result;
}

/* An awaitable that is done at once: what AsyncProducer.send() returns when the record was queued on
 * the spot, instead of a coroutine (whose creation and run cost about as much as the queueing itself).
 * ``await`` takes its value through am_send without raising StopIteration; send/throw/close make it a
 * coroutine for asyncio (josef.aio registers it with collections.abc.Coroutine), so create_task and
 * gather accept it. */
typedef struct {
    PyObject_HEAD
    PyObject *value;
} ReadyObject;

static void
ready_dealloc(ReadyObject *self)
{
    Py_XDECREF(self->value);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
ready_await(PyObject *self)
{
    return Py_NewRef(self);
}

static PySendResult
ready_am_send(PyObject *self, PyObject *arg, PyObject **result)
{
    *result = Py_NewRef(((ReadyObject *)self)->value);
    return PYGEN_RETURN;
}

static PyObject *
ready_stop(PyObject *self)
{
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, ((ReadyObject *)self)->value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyObject *
ready_send(PyObject *self, PyObject *arg)
{
    return ready_stop(self);
}

static PyObject *
ready_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw(exception)");
        return NULL;
    }
    PyObject *exc = args[0];
    if (PyExceptionInstance_Check(exc))
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    else if (PyExceptionClass_Check(exc))
        PyErr_SetObject(exc, nargs > 1 ? args[1] : NULL);
    else
        PyErr_SetString(PyExc_TypeError, "throw() needs an exception");
    return NULL;
}

static PyObject *
ready_close(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef ready_methods[] = {
    {"send", ready_send, METH_O, "Finish at once: raises StopIteration with the value."},
    {"throw", (PyCFunction)(void (*)(void))ready_throw, METH_FASTCALL, "Raise the exception."},
    {"close", ready_close, METH_NOARGS, "Nothing to close."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods ready_async = {ready_await, NULL, NULL, ready_am_send};

static PyTypeObject ReadyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "josef._core._speedups.Ready",
    .tp_basicsize = sizeof(ReadyObject),
    .tp_dealloc = (destructor)ready_dealloc,
    .tp_as_async = &ready_async,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An awaitable already done: await gives its value.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = ready_stop,
    .tp_methods = ready_methods,
};

static PyObject *
make_ready(PyObject *value) /* steals value */
{
    ReadyObject *ready = PyObject_New(ReadyObject, &ReadyType);
    if (ready == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    ready->value = value;
    return (PyObject *)ready;
}

static PyObject *
speedups_ready(PyObject *self, PyObject *value)
{
    return make_ready(Py_NewRef(value));
}

/* send_fast for AsyncProducer.send(): the record's future, ready to await, or None. */
static PyObject *
speedups_send_fast_ready(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *future = speedups_send_fast(self, args, nargs);
    if (future == NULL || future == Py_None)
        return future;
    return make_ready(future);
}

/* AsyncProducer.send() as a C callable: the same call as the Python method, without its frame (about a
 * fifth of an ``await send()`` that queues at once). ``try_send_ready`` is read from the Producer at each
 * call, as the Python method reads it, so a closed or forked producer falls back at once. Any other call
 * shape (unknown or repeated keywords, too many positional arguments) goes to the Python method, which
 * raises as Python does. Holds the AsyncProducer (through the bound methods): a GC type. */
typedef struct {
    PyObject_HEAD
    PyObject *producer; /* josef.Producer */
    PyObject *slow;     /* AsyncProducer._send, bound: the seven arguments, positional */
    PyObject *full;     /* AsyncProducer.send as written in Python, bound */
    vectorcallfunc vectorcall;
} AsyncSendObject;

static PyObject *s_try_send_ready, *s_send_keywords[6]; /* value, key, partition, timestamp_ms, headers, callback */

static int
send_keyword_slot(PyObject *name)
{
    for (int i = 0; i < 6; i++)
        if (name == s_send_keywords[i])
            return i + 1;
    for (int i = 0; i < 6; i++) {
        int eq = PyUnicode_Compare(name, s_send_keywords[i]);
        if (eq == 0)
            return i + 1;
        if (eq == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
    }
    return -1;
}

static PyObject *
async_send_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    AsyncSendObject *self = (AsyncSendObject *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs < 1 || nargs > 3)
        return PyObject_Vectorcall(self->full, args, nargsf, kwnames);
    PyObject *slots[7] = {Py_None, Py_None, Py_None, Py_None, Py_None, Py_None, Py_None};
    unsigned given = 0;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        slots[i] = args[i];
        given |= 1u << i;
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        int slot = send_keyword_slot(PyTuple_GET_ITEM(kwnames, i));
        if (slot < 0 || (given & (1u << slot)))
            return PyObject_Vectorcall(self->full, args, nargsf, kwnames);
        slots[slot] = args[nargs + i];
        given |= 1u << slot;
    }
    PyObject *ready = PyObject_GetAttr(self->producer, s_try_send_ready);
    if (ready == NULL)
        return NULL;
    if (ready != Py_None) {
        PyObject *queued = PyObject_Vectorcall(ready, slots, 7, NULL);
        Py_DECREF(ready);
        if (queued != Py_None)
            return queued; /* a Ready, or NULL with the exception the shortcut raised */
        Py_DECREF(queued);
    }
    else {
        Py_DECREF(ready);
    }
    return PyObject_Vectorcall(self->slow, slots, 7, NULL);
}

static PyObject *
async_send_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *producer, *slow, *full;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "AsyncSend(producer, slow, full) takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOO:AsyncSend", &producer, &slow, &full))
        return NULL;
    if (!PyCallable_Check(slow) || !PyCallable_Check(full)) {
        PyErr_SetString(PyExc_TypeError, "AsyncSend: slow and full must be callable");
        return NULL;
    }
    AsyncSendObject *self = PyObject_GC_New(AsyncSendObject, type);
    if (self == NULL)
        return NULL;
    self->producer = Py_NewRef(producer);
    self->slow = Py_NewRef(slow);
    self->full = Py_NewRef(full);
    self->vectorcall = async_send_vectorcall;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int
async_send_traverse(AsyncSendObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->producer);
    Py_VISIT(self->slow);
    Py_VISIT(self->full);
    return 0;
}

static int
async_send_clear(AsyncSendObject *self)
{
    Py_CLEAR(self->producer);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->full);
    return 0;
}

static void
async_send_dealloc(AsyncSendObject *self)
{
    PyObject_GC_UnTrack(self);
    async_send_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
async_send_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

/* What inspect.signature() and help() follow: the Python method, with its signature and docstring. */
static PyObject *
async_send_wrapped(AsyncSendObject *self, void *closure)
{
    if (self->full == NULL)
        Py_RETURN_NONE;
    return Py_NewRef(self->full);
}

static PyObject *
async_send_doc(AsyncSendObject *self, void *closure)
{
    if (self->full == NULL)
        Py_RETURN_NONE;
    return PyObject_GetAttrString(self->full, "__doc__");
}

static PyGetSetDef async_send_getset[] = {
    {"__wrapped__", (getter)async_send_wrapped, NULL, "AsyncProducer.send as written in Python.", NULL},
    {"__doc__", (getter)async_send_doc, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject AsyncSendType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "josef._core._speedups.AsyncSend",
    .tp_basicsize = sizeof(AsyncSendObject),
    .tp_dealloc = (destructor)async_send_dealloc,
    .tp_vectorcall_offset = offsetof(AsyncSendObject, vectorcall),
    .tp_call = async_send_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_traverse = (traverseproc)async_send_traverse,
    .tp_clear = (inquiry)async_send_clear,
    .tp_new = async_send_new,
    .tp_getset = async_send_getset,
};

static PyMethodDef speedups_methods[] = {
    {"murmur2", speedups_murmur2, METH_O, "Kafka's murmur2 of a bytes-like object, as an unsigned int."},
    {"encode_records", speedups_encode_records, METH_VARARGS,
     "encode_records(records, base_timestamp, first_offset=0) -> bytearray: a batch's record section."},
    {"append_records", speedups_append_records, METH_VARARGS,
     "append_records(buf, records, base_timestamp, first_offset, limit): records written onto a batch's buffer."},
    {"configure_send_fast", speedups_configure_send_fast, METH_VARARGS,
     "configure_send_fast(ProducerBatch, BatchResult, RecordFuture, framing_estimate): what send_fast builds on."},
    {"ready", speedups_ready, METH_O, "ready(value) -> Ready: an awaitable already done, giving value."},
    {"send_fast_ready", (PyCFunction)(void (*)(void))speedups_send_fast_ready, METH_FASTCALL,
     "send_fast_ready(state, ...) -> Ready | None: send_fast's future, ready to await (AsyncProducer.send)."},
    {"send_fast", (PyCFunction)(void (*)(void))speedups_send_fast, METH_FASTCALL,
     "send_fast(state, topic, value, key, partition, timestamp_ms, headers, callback) -> RecordFuture | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "josef._core._speedups", "C versions of josef's per-record hot spots.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if ((s_closed = PyUnicode_InternFromString("closed")) == NULL ||
        (s_topics = PyUnicode_InternFromString("topics")) == NULL ||
        (s_leaders = PyUnicode_InternFromString("leaders")) == NULL ||
        (s_check_send = PyUnicode_InternFromString("check_send")) == NULL)
        return NULL;
    static const char *send_keywords[6] = {"value", "key", "partition", "timestamp_ms", "headers", "callback"};
    for (int i = 0; i < 6; i++)
        if ((s_send_keywords[i] = PyUnicode_InternFromString(send_keywords[i])) == NULL)
            return NULL;
    if ((s_try_send_ready = PyUnicode_InternFromString("try_send_ready")) == NULL)
        return NULL;
    if (PyType_Ready(&ReadyType) < 0 || PyType_Ready(&AsyncSendType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Ready", (PyObject *)&ReadyType) < 0 ||
        PyModule_AddObjectRef(module, "AsyncSend", (PyObject *)&AsyncSendType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
