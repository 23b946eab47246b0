/* Optional C versions of josef's two per-record hot spots: murmur2 partitioning and the
 * encoding of a batch's records. josef/partitioner.py and josef/records.py hold the pure
 * Python definitions; tests run both and require identical results. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
speedups_murmur2(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *data = (const uint8_t *)view.buf;
    uint32_t length = (uint32_t)view.len;
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

static PyObject *
speedups_encode_records(PyObject *self, PyObject *args)
{
    PyObject *records;
    long long base_ts;
    if (!PyArg_ParseTuple(args, "OL", &records, &base_ts))
        return NULL;
    PyObject *seq = PySequence_Fast(records, "records must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    RecordView *views = PyMem_Malloc(sizeof(RecordView) * (count ? count : 1));
    if (views == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_ssize_t total = 0;
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
        Py_ssize_t body = 1 + varint_size(v->ts_delta) + varint_size(i);
        body += varint_size(v->key_len) + (v->key_len > 0 ? v->key_len : 0);
        body += varint_size(v->value_len) + (v->value_len > 0 ? v->value_len : 0);
        body += v->headers ? v->headers_len : 1;
        v->body = body;
        total += varint_size(body) + body;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, total);
    if (out == NULL)
        goto fail;
    char *p = PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) {
        RecordView *v = &views[i];
        p = write_varint(p, v->body);
        *p++ = 0; /* attributes */
        p = write_varint(p, v->ts_delta);
        p = write_varint(p, i);
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
    }
    PyMem_Free(views);
    Py_DECREF(seq);
    return out;
fail:
    PyMem_Free(views);
    Py_DECREF(seq);
    return NULL;
}

static PyMethodDef speedups_methods[] = {
    {"murmur2", speedups_murmur2, METH_O, "Kafka's murmur2 of a bytes-like object, as an unsigned int."},
    {"encode_records", speedups_encode_records, METH_VARARGS,
     "encode_records(records, base_timestamp) -> bytearray: a batch's record section."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "josef._speedups", "C versions of josef's per-record hot spots.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
