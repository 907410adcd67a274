/*
 * noduleid_jni.c - JNI glue of the Java binding (org.noduleid).
 *
 * A thin layer over the public C API (include/noduleid.h) only: no library
 * internals. Every function here implements one native method of
 * org.noduleid.Native; the prototypes come from org_noduleid_Native.h,
 * which `javac -h` writes at build time, so a Java signature that disagrees
 * with this file fails to compile.
 *
 * Rules:
 *  - A failing library call throws org.noduleid.NoduleIdException(status,
 *    nid_last_error()) and the function returns at once (0 / NULL).
 *  - Java programming errors the library cannot see (a Java array shorter
 *    than the sizes say, a heap buffer where a direct one is needed) throw
 *    IllegalArgumentException / NullPointerException.
 *  - Heap arrays are copied in and out with Get/Set<Type>ArrayRegion:
 *    clustering and decoding can run for seconds, and holding a
 *    GetPrimitiveArrayCritical region that long would stall the garbage
 *    collector of every thread. The one exception is copying frames in
 *    nid_video_from_frames(NID_FRAMES_COPY), a pure memcpy. Direct buffers
 *    are used in place (GetDirectBufferAddress), never copied.
 *  - Strings arrive as NUL-terminated UTF-8 byte[] (Native.cstr) and leave
 *    through Native.utf8, so non-ASCII paths survive (JNI's "modified
 *    UTF-8" differs from UTF-8).
 *
 * Functions of noduleid.h that are not called here are listed, with the
 * reason, in bindings/java/unbound.txt; tests/.. check_jni_drift.py keeps
 * the three (header, this file, the Java natives) in step.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t under -std=c11 */
#include <jni.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"
#include "org_noduleid_Native.h"

#define J(name) Java_org_noduleid_Native_##name

/* ------------------------------------------------------------------------ */
/* Cached classes and methods                                               */
/* ------------------------------------------------------------------------ */

static JavaVM *g_vm;
static jclass g_exc_class;      /* org.noduleid.NoduleIdException */
static jmethodID g_exc_ctor;    /* (int, String) */
static jclass g_native_class;   /* org.noduleid.Native */
static jmethodID g_utf8;        /* static String utf8(byte[]) */
static jclass g_noduleid_class; /* org.noduleid.NoduleId */
static jmethodID g_dispatch_log;/* static void dispatchLog(LogHandler, int, String) */
static jclass g_string_class;

static jclass global_class(JNIEnv *env, const char *name)
{
    jclass c = (*env)->FindClass(env, name);
    if (!c) return NULL;
    jclass g = (*env)->NewGlobalRef(env, c);
    (*env)->DeleteLocalRef(env, c);
    return g;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    g_vm = vm;
    if (!(g_exc_class = global_class(env, "org/noduleid/NoduleIdException"))) return JNI_ERR;
    if (!(g_exc_ctor = (*env)->GetMethodID(env, g_exc_class, "<init>", "(ILjava/lang/String;)V")))
        return JNI_ERR;
    if (!(g_native_class = global_class(env, "org/noduleid/Native"))) return JNI_ERR;
    if (!(g_utf8 = (*env)->GetStaticMethodID(env, g_native_class, "utf8", "([B)Ljava/lang/String;")))
        return JNI_ERR;
    if (!(g_noduleid_class = global_class(env, "org/noduleid/NoduleId"))) return JNI_ERR;
    if (!(g_dispatch_log = (*env)->GetStaticMethodID(env, g_noduleid_class, "dispatchLog",
            "(Lorg/noduleid/NoduleId$LogHandler;ILjava/lang/String;)V")))
        return JNI_ERR;
    if (!(g_string_class = global_class(env, "java/lang/String"))) return JNI_ERR;
    return JNI_VERSION_1_8;
}

/* ------------------------------------------------------------------------ */
/* Exceptions and conversions                                               */
/* ------------------------------------------------------------------------ */

static jstring jstr(JNIEnv *env, const char *s)
{
    if (!s) return NULL;
    jsize n = (jsize)strlen(s);
    jbyteArray b = (*env)->NewByteArray(env, n);
    if (!b) return NULL;
    (*env)->SetByteArrayRegion(env, b, 0, n, (const jbyte *)s);
    jstring r = (jstring)(*env)->CallStaticObjectMethod(env, g_native_class, g_utf8, b);
    (*env)->DeleteLocalRef(env, b);
    return r;
}

/* Throw NoduleIdException for a failed call; returns 1 when thrown. */
static int check(JNIEnv *env, int status)
{
    if (status >= 0) return 0;
    if ((*env)->ExceptionCheck(env)) return 1;
    jstring msg = jstr(env, nid_last_error());
    if ((*env)->ExceptionCheck(env)) return 1;
    jobject e = (*env)->NewObject(env, g_exc_class, g_exc_ctor, (jint)status, msg);
    if (e) (*env)->Throw(env, (jthrowable)e);
    return 1;
}

static void throw_class(JNIEnv *env, const char *cls, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    jclass c = (*env)->FindClass(env, cls);
    if (c) (*env)->ThrowNew(env, c, buf);
}

#define THROW_IAE(...) throw_class(env, "java/lang/IllegalArgumentException", __VA_ARGS__)
#define THROW_NPE(...) throw_class(env, "java/lang/NullPointerException", __VA_ARGS__)
#define THROW_OOM(...) throw_class(env, "java/lang/OutOfMemoryError", __VA_ARGS__)

static void *xmalloc(JNIEnv *env, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) THROW_OOM("noduleid_jni: cannot allocate %zu bytes", n);
    return p;
}

/* Copy a NUL-terminated UTF-8 byte[] (from Native.cstr) into malloc'd
 * memory. NULL array -> *out = NULL, returns 1. 0 when an exception is
 * pending. */
static int get_cstr(JNIEnv *env, jbyteArray a, char **out)
{
    *out = NULL;
    if (!a) return 1;
    jsize n = (*env)->GetArrayLength(env, a);
    char *s = xmalloc(env, (size_t)n + 1);
    if (!s) return 0;
    (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)s);
    s[n] = '\0';
    *out = s;
    return 1;
}

/* Copy a Java primitive array into malloc'd memory (the Region calls). */
#define DEFINE_GET_ARRAY(fn, jtype, ctype, Type)                              \
    static ctype *fn(JNIEnv *env, jtype a, const char *what, jsize *len)      \
    {                                                                         \
        if (!a) { THROW_NPE("%s is null", what); return NULL; }               \
        jsize n = (*env)->GetArrayLength(env, a);                             \
        ctype *p = xmalloc(env, (size_t)n * sizeof(ctype));                   \
        if (!p) return NULL;                                                  \
        (*env)->Get##Type##ArrayRegion(env, a, 0, n, (void *)p);              \
        if (len) *len = n;                                                    \
        return p;                                                             \
    }
DEFINE_GET_ARRAY(get_floats, jfloatArray, float, Float)
DEFINE_GET_ARRAY(get_doubles, jdoubleArray, double, Double)
DEFINE_GET_ARRAY(get_ints, jintArray, int32_t, Int)
DEFINE_GET_ARRAY(get_longs, jlongArray, int64_t, Long)
DEFINE_GET_ARRAY(get_bytes, jbyteArray, uint8_t, Byte)

/* Address of element `pos` of a direct buffer whose elements are `elem`
 * bytes, checking that `need` elements fit (need < 0: any). *avail gets
 * the elements from pos to the capacity. NULL with an exception pending. */
static void *direct_at(JNIEnv *env, jobject buf, jint pos, jlong need, size_t elem,
                       const char *what, size_t *avail)
{
    if (!buf) { THROW_NPE("%s is null", what); return NULL; }
    char *base = (*env)->GetDirectBufferAddress(env, buf);
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    if (!base || cap < 0) { THROW_IAE("%s is not a direct buffer", what); return NULL; }
    if (pos < 0 || pos > cap) { THROW_IAE("%s: position %d outside [0, %lld]", what, (int)pos, (long long)cap); return NULL; }
    if (need >= 0 && need > cap - pos) {
        THROW_IAE("%s: %lld elements remaining, %lld needed", what, (long long)(cap - pos), (long long)need);
        return NULL;
    }
    if (avail) *avail = (size_t)(cap - pos);
    return base + (size_t)pos * elem;
}

static jfloatArray new_floats(JNIEnv *env, const float *p, size_t n)
{
    if (n > INT_MAX) { THROW_IAE("result of %zu floats does not fit a Java array", n); return NULL; }
    jfloatArray a = (*env)->NewFloatArray(env, (jsize)n);
    if (a) (*env)->SetFloatArrayRegion(env, a, 0, (jsize)n, p);
    return a;
}

static void set_doubles(JNIEnv *env, jdoubleArray a, const double *v, jsize n)
{
    (*env)->SetDoubleArrayRegion(env, a, 0, n, v);
}

static void set_longs(JNIEnv *env, jlongArray a, const jlong *v, jsize n)
{
    (*env)->SetLongArrayRegion(env, a, 0, n, v);
}

static jobjectArray new_strings(JNIEnv *env, const char *const *s, int n)
{
    jobjectArray a = (*env)->NewObjectArray(env, n, g_string_class, NULL);
    if (!a) return NULL;
    for (int i = 0; i < n; i++) {
        jstring js = jstr(env, s[i]);
        if ((*env)->ExceptionCheck(env)) return NULL;
        (*env)->SetObjectArrayElement(env, a, i, js);
        if (js) (*env)->DeleteLocalRef(env, js);
    }
    return a;
}

static int bytes_per_pixel(int format)
{
    return format == NID_PIX_GRAY8 ? 1 : format == NID_PIX_RGB24 ? 3 : 0;
}

/* Bytes a frame needs, or 0 when the geometry is invalid (then the library
 * reports the exact problem). */
static size_t frame_bytes(jint width, jint height, jint stride, jint format)
{
    int bpp = bytes_per_pixel(format);
    if (width <= 0 || height <= 0 || bpp == 0 || stride < (jlong)width * bpp) return 0;
    return (size_t)(height - 1) * (size_t)stride + (size_t)width * (size_t)bpp;
}

/* ------------------------------------------------------------------------ */
/* Struct layouts and the generated glue                                    */
/* ------------------------------------------------------------------------ */

/* Structs cross as NativeLayout arrays (generated by gen_jni.py): numbers in
 * a long[] of exactly the layout's length, strings in a byte[][] (in) or a
 * String[] (out). A wrong length is a binding bug: IllegalArgumentException. */
static int nidj_out_len(JNIEnv *env, const char *what, jlongArray la, int n)
{
    if (!la) { THROW_NPE("%s: layout array is null", what); return 0; }
    jsize len = (*env)->GetArrayLength(env, la);
    if (len != n) {
        THROW_IAE("%s: long[%d] given, its NativeLayout has %d numbers", what, (int)len, n);
        return 0;
    }
    return 1;
}

/* Read a layout: n numbers into v, ns strings (sa may be null: the init
 * defaults stay) into malloc'd tmp[] (nidj_free_strs). */
static int nidj_layout_in(JNIEnv *env, const char *what, jlongArray la, jlong *v, int n, jobjectArray sa,
                          char **tmp, int ns)
{
    if (!nidj_out_len(env, what, la, n)) return 0;
    (*env)->GetLongArrayRegion(env, la, 0, n, v);
    if (!sa || ns == 0) return 1;
    if ((*env)->GetArrayLength(env, sa) != ns) {
        THROW_IAE("%s: %d strings given, its NativeLayout has %d", what, (int)(*env)->GetArrayLength(env, sa), ns);
        return 0;
    }
    for (int i = 0; i < ns; i++) {
        jbyteArray b = (jbyteArray)(*env)->GetObjectArrayElement(env, sa, i);
        int ok = get_cstr(env, b, &tmp[i]);
        if (b) (*env)->DeleteLocalRef(env, b);
        if (!ok) return 0;
    }
    return 1;
}

static jobjectArray nidj_layout_out(JNIEnv *env, const char *what, jlongArray la, const jlong *v, int n,
                                    const char **str, int ns)
{
    if (!nidj_out_len(env, what, la, n)) return NULL;
    (*env)->SetLongArrayRegion(env, la, 0, n, v);
    return ns ? new_strings(env, str, ns) : NULL;
}

/* Copy a string from Java into a char[cap] member (NULL: keep the default). */
static int nidj_set_str(JNIEnv *env, const char *what, char *dst, size_t cap, const char *src)
{
    if (!src) return 1;
    size_t n = strlen(src);
    if (n >= cap) {
        THROW_IAE("%s: %zu bytes, at most %zu", what, n, cap - 1);
        return 0;
    }
    memcpy(dst, src, n + 1);
    return 1;
}

static void nidj_free_strs(char **t, int n)
{
    for (int i = 0; i < n; i++) free(t[i]);
}

/* Generated array glue: the Java array `a` must hold x * y elements (the
 * extent the C function `fn` reads or writes, `expr` in its parameter
 * names). A null array passes NULL when the extent is 0. 0 with an
 * IllegalArgumentException / NullPointerException pending otherwise. */
static int nidj_array_fits(JNIEnv *env, const char *fn, const char *param, jarray a, jlong x, jlong y,
                           const char *expr)
{
    if (x < 0 || y < 0) {
        THROW_IAE("%s: %s = %lld is negative (the extent of %s)", fn, expr, (long long)(x < 0 ? x : y), param);
        return 0;
    }
    if (y != 0 && x > INT64_MAX / y) {
        THROW_IAE("%s: %s = %lld x %lld overflows (the extent of %s)", fn, expr, (long long)x, (long long)y, param);
        return 0;
    }
    jlong need = x * y, len = a ? (jlong)(*env)->GetArrayLength(env, a) : 0;
    if (!a && need > 0) {
        THROW_NPE("%s: %s is null, %s = %lld elements needed", fn, param, expr, (long long)need);
        return 0;
    }
    if (need > len) {
        THROW_IAE("%s: %s has %lld elements, %s = %lld needed", fn, param, (long long)len, expr, (long long)need);
        return 0;
    }
    return 1;
}

#include "noduleid_jni_gen.h"

/* ------------------------------------------------------------------------ */
/* Version, errors, logging                                                 */
/* ------------------------------------------------------------------------ */

/* The Java log handler (a global ref). The read lock is held while a
 * message is delivered, so replacing the handler never deletes a ref that
 * another thread is using. */
static pthread_rwlock_t g_log_lock = PTHREAD_RWLOCK_INITIALIZER;
static jobject g_log_handler;

static void log_to_java(int level, const char *msg, void *payload)
{
    pthread_rwlock_rdlock(&g_log_lock);
    if (!g_log_handler || !g_vm) { pthread_rwlock_unlock(&g_log_lock); return; }
    JNIEnv *env = NULL;
    int attached = 0;
    if ((*g_vm)->GetEnv(g_vm, (void **)&env, JNI_VERSION_1_8) == JNI_EDETACHED) {
        /* A library worker thread: attach for the call only. */
        if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&env, NULL) != JNI_OK) {
            pthread_rwlock_unlock(&g_log_lock);
            return;
        }
        attached = 1;
    }
    if (env && (*env)->PushLocalFrame(env, 8) == 0) {
        /* A Java exception may already be pending on this thread (thrown by
         * the glue before the library logged); keep it aside. */
        jthrowable pending = (*env)->ExceptionOccurred(env);
        if (pending) (*env)->ExceptionClear(env);
        jstring s = jstr(env, msg);
        if (!(*env)->ExceptionCheck(env))
            (*env)->CallStaticVoidMethod(env, g_noduleid_class, g_dispatch_log, g_log_handler,
                                         (jint)level, s);
        if ((*env)->ExceptionCheck(env)) (*env)->ExceptionClear(env); /* handler errors are dropped */
        if (pending) (*env)->Throw(env, pending);
        (*env)->PopLocalFrame(env, NULL);
    }
    if (attached) (*g_vm)->DetachCurrentThread(g_vm);
    pthread_rwlock_unlock(&g_log_lock);
}

JNIEXPORT void JNICALL J(setLogHandler)(JNIEnv *env, jclass cls, jobject handler, jint max_level)
{
    jobject g = handler ? (*env)->NewGlobalRef(env, handler) : NULL;
    if (handler && !g) return;
    pthread_rwlock_wrlock(&g_log_lock);
    jobject old = g_log_handler;
    g_log_handler = g;
    pthread_rwlock_unlock(&g_log_lock);
    if (old) (*env)->DeleteGlobalRef(env, old);
    nid_set_log_callback(g ? log_to_java : NULL, max_level, NULL);
}

/* ------------------------------------------------------------------------ */
/* Distances and clustering                                                 */
/* ------------------------------------------------------------------------ */

/* ClusterOptions cross as a nid_cluster_options layout (ClusterOptions.toLayout). */
static int cluster_opts(JNIEnv *env, jlongArray la, nid_cluster_options *o)
{
    char *none[1] = {NULL};
    return nidj_in_nid_cluster_options(env, o, la, NULL, none);
}

/* n rows of d floats must fit the Java array. */
static int check_rows(JNIEnv *env, jsize len, jint n, jint d, const char *what)
{
    if (n < 0 || d < 0 || (jlong)n * d > len) {
        THROW_IAE("%s: %d x %d floats needed, array has %d", what, (int)n, (int)d, (int)len);
        return 0;
    }
    return 1;
}

JNIEXPORT void JNICALL J(distanceMatrixDirect)(JNIEnv *env, jclass cls, jobject xb, jint xpos, jint n, jint d,
                                                jint metric, jint n_threads, jobject ob, jint opos)
{
    if (n < 0 || d < 0) { THROW_IAE("n and d must be >= 0"); return; }
    const float *x = direct_at(env, xb, xpos, (jlong)n * d, sizeof(float), "x", NULL);
    if (!x) return;
    size_t avail;
    float *out = direct_at(env, ob, opos, -1, sizeof(float), "out", &avail);
    if (!out) return;
    check(env, nid_distance_matrix(x, (size_t)n, (size_t)d, metric, n_threads, out, avail, NULL));
}

JNIEXPORT jint JNICALL J(clusterDirect)(JNIEnv *env, jclass cls, jobject xb, jint xpos, jint n, jint d,
                                        jlongArray oa, jobject lb, jint lpos)
{
    nid_cluster_options o;
    if (!cluster_opts(env, oa, &o)) return 0;
    if (n < 0 || d < 0) { THROW_IAE("n and d must be >= 0"); return 0; }
    const float *x = direct_at(env, xb, xpos, (jlong)n * d, sizeof(float), "x", NULL);
    if (!x) return 0;
    size_t avail;
    int32_t *labels = direct_at(env, lb, lpos, -1, sizeof(int32_t), "labels", &avail);
    if (!labels) return 0;
    size_t k = 0;
    if (check(env, nid_cluster(x, (size_t)n, (size_t)d, &o, labels, avail, &k))) return 0;
    return (jint)k;
}

/* nid_cluster_dist: the n x n distances (an extent the signature does not
 * tell: gen_jni.py HAND_WRITTEN); la gets the n labels. */
JNIEXPORT jint JNICALL J(clusterDist)(JNIEnv *env, jclass cls, jfloatArray da, jint n, jlongArray oa,
                                      jintArray la)
{
    nid_cluster_options o;
    if (!cluster_opts(env, oa, &o)) return 0;
    jsize len;
    float *x = get_floats(env, da, "dist", &len);
    if (!x) return 0;
    int32_t *labels = NULL;
    size_t k = 0;
    if (!check_rows(env, len, n, n, "dist")) goto done;
    if (!la) { THROW_NPE("labels is null"); goto done; }
    if ((*env)->GetArrayLength(env, la) < n) { THROW_IAE("labels shorter than n"); goto done; }
    if (!(labels = xmalloc(env, (size_t)n * sizeof(int32_t)))) goto done;
    if (check(env, nid_cluster_dist(x, (size_t)n, &o, labels, (size_t)n, &k))) goto done;
    (*env)->SetIntArrayRegion(env, la, 0, n, (const jint *)labels);
done:
    free(labels);
    free(x);
    return (jint)k;
}

/* ------------------------------------------------------------------------ */
/* Online clustering                                                        */
/* ------------------------------------------------------------------------ */

static nid_online *online(jlong h) { return (nid_online *)(intptr_t)h; }

JNIEXPORT jint JNICALL J(onlineAdd)(JNIEnv *env, jclass cls, jlong h, jfloatArray xa)
{
    float *x = get_floats(env, xa, "x", NULL);
    if (!x) return 0;
    int32_t c = -1;
    int rc = nid_online_add(online(h), x, &c);
    free(x);
    check(env, rc);
    return c;
}

JNIEXPORT jint JNICALL J(onlineAddDirect)(JNIEnv *env, jclass cls, jlong h, jobject xb, jint xpos)
{
    const float *x = direct_at(env, xb, xpos, -1, sizeof(float), "x", NULL);
    if (!x) return 0;
    int32_t c = -1;
    check(env, nid_online_add(online(h), x, &c));
    return c;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                               */
/* ------------------------------------------------------------------------ */

/* Copy labels and one or two score arrays of the same length n. */
static int get_pairs(JNIEnv *env, jintArray la, jdoubleArray sa, jdoubleArray sb,
                     int32_t **labels, double **a, double **b, size_t *n)
{
    jsize nl, ns;
    *labels = NULL; *a = NULL; if (b) *b = NULL;
    if (!(*labels = get_ints(env, la, "labels", &nl))) return 0;
    if (!(*a = get_doubles(env, sa, "scores", &ns))) return 0;
    if (ns != nl) { THROW_IAE("labels/scores lengths differ (%d vs %d)", (int)nl, (int)ns); return 0; }
    if (b) {
        if (!(*b = get_doubles(env, sb, "scoresB", &ns))) return 0;
        if (ns != nl) { THROW_IAE("labels/scoresB lengths differ (%d vs %d)", (int)nl, (int)ns); return 0; }
    }
    *n = (size_t)nl;
    return 1;
}

JNIEXPORT void JNICALL J(evalYouden)(JNIEnv *env, jclass cls, jintArray la, jdoubleArray sa, jdoubleArray out)
{
    int32_t *labels; double *s; size_t n;
    if (get_pairs(env, la, sa, NULL, &labels, &s, NULL, &n)) {
        double d[2] = {0, 0};
        if (!check(env, nid_eval_youden(labels, s, n, &d[0], &d[1]))) set_doubles(env, out, d, 2);
    }
    free(s);
    free(labels);
}

/* ------------------------------------------------------------------------ */
/* Video                                                                    */
/* ------------------------------------------------------------------------ */

static nid_video *video(jlong h) { return (nid_video *)(intptr_t)h; }

JNIEXPORT jlong JNICALL J(videoFromArrays)(JNIEnv *env, jclass cls, jobjectArray fa, jint width, jint height,
                                           jint stride, jint format, jdouble fps)
{
    if (!fa) { THROW_NPE("frames is null"); return 0; }
    jsize n = (*env)->GetArrayLength(env, fa);
    size_t need = frame_bytes(width, height, stride, format);
    jbyteArray *arrs = xmalloc(env, (size_t)n * sizeof *arrs);
    nid_frame *frames = arrs ? xmalloc(env, (size_t)n * sizeof *frames) : NULL;
    jlong result = 0;
    jsize pinned = 0;
    if (!frames) goto done;
    if ((*env)->EnsureLocalCapacity(env, n + 8) != 0) goto done;
    /* Collect the arrays first: no other JNI call may run inside the
     * critical regions below. */
    for (jsize i = 0; i < n; i++) {
        arrs[i] = (jbyteArray)(*env)->GetObjectArrayElement(env, fa, i);
        if (!arrs[i]) { THROW_NPE("frames[%d] is null", (int)i); goto done; }
        if (need && (size_t)(*env)->GetArrayLength(env, arrs[i]) < need) {
            THROW_IAE("frames[%d]: %d bytes, a %dx%d frame with stride %d needs %zu", (int)i,
                      (int)(*env)->GetArrayLength(env, arrs[i]), (int)width, (int)height, (int)stride, need);
            goto done;
        }
    }
    if (n > 0 && need == 0) {
        /* Invalid geometry: let the library name the problem (no pixels
         * are read when the geometry is refused). */
        for (jsize i = 0; i < n; i++) {
            static const uint8_t dummy[1];
            frames[i] = (nid_frame){dummy, width, height, (size_t)(stride < 0 ? 0 : stride), format};
        }
        nid_video *v = NULL;
        if (!check(env, nid_video_from_frames(&v, frames, (size_t)n, fps, NID_FRAMES_COPY))) {
            nid_video_free(v); /* not expected: geometry was invalid */
            THROW_IAE("invalid frame geometry %dx%d stride %d format %d", (int)width, (int)height,
                      (int)stride, (int)format);
        }
        goto done;
    }
    /* Copy with the arrays pinned: a plain memcpy inside the library. */
    for (; pinned < n; pinned++) {
        void *p = (*env)->GetPrimitiveArrayCritical(env, arrs[pinned], NULL);
        if (!p) break;
        frames[pinned] = (nid_frame){p, width, height, (size_t)stride, format};
    }
    int rc = NID_ENOMEM;
    nid_video *v = NULL;
    if (pinned == n) rc = nid_video_from_frames(&v, frames, (size_t)n, fps, NID_FRAMES_COPY);
    while (pinned > 0) {
        pinned--;
        (*env)->ReleasePrimitiveArrayCritical(env, arrs[pinned], (void *)frames[pinned].data, JNI_ABORT);
    }
    if (rc == NID_ENOMEM && !v && (*env)->ExceptionCheck(env)) goto done;
    if (!check(env, rc)) result = (jlong)(intptr_t)v;
done:
    free(frames);
    free(arrs);
    return result;
}

JNIEXPORT jlong JNICALL J(videoFromDirect)(JNIEnv *env, jclass cls, jobjectArray fa, jint width, jint height,
                                           jint stride, jint format, jdouble fps, jboolean copy)
{
    if (!fa) { THROW_NPE("frames is null"); return 0; }
    jsize n = (*env)->GetArrayLength(env, fa);
    size_t need = frame_bytes(width, height, stride, format);
    nid_frame *frames = xmalloc(env, (size_t)n * sizeof *frames);
    if (!frames) return 0;
    jlong result = 0;
    for (jsize i = 0; i < n; i++) {
        jobject b = (*env)->GetObjectArrayElement(env, fa, i);
        char what[32];
        snprintf(what, sizeof what, "frames[%d]", (int)i);
        const uint8_t *p = direct_at(env, b, 0, (jlong)need, 1, what, NULL);
        (*env)->DeleteLocalRef(env, b);
        if (!p) goto done;
        frames[i] = (nid_frame){p, width, height, (size_t)(stride < 0 ? 0 : stride), format};
    }
    nid_video *v = NULL;
    if (!check(env, nid_video_from_frames(&v, frames, (size_t)n, fps, copy ? NID_FRAMES_COPY : 0)))
        result = (jlong)(intptr_t)v;
done:
    free(frames);
    return result;
}

/* Bytes of one packed frame of v. */
static size_t packed_frame_bytes(JNIEnv *env, nid_video *v)
{
    nid_video_info info;
    nid_video_info_init(&info);
    if (check(env, nid_video_get_info(v, &info))) return 0;
    return (size_t)info.width * (size_t)info.height * (size_t)bytes_per_pixel(info.format);
}

JNIEXPORT jint JNICALL J(videoReadFrameDirect)(JNIEnv *env, jclass cls, jlong h, jlong index, jobject db,
                                               jint pos)
{
    size_t avail, needed = 0;
    uint8_t *dst = direct_at(env, db, pos, -1, 1, "dst", &avail);
    if (!dst) return 0;
    if (check(env, nid_video_read_frame(video(h), index, dst, avail, &needed))) return 0;
    return (jint)packed_frame_bytes(env, video(h));
}

/* ------------------------------------------------------------------------ */
/* Exams                                                                    */
/* ------------------------------------------------------------------------ */

static nid_exam *exam(jlong h) { return (nid_exam *)(intptr_t)h; }

/* Boxes travel as x, y, w, h floats. */
static nid_box *boxes_from(const float *f, size_t n, JNIEnv *env)
{
    nid_box *b = xmalloc(env, n * sizeof *b);
    if (!b) return NULL;
    for (size_t i = 0; i < n; i++) b[i] = (nid_box){f[4 * i], f[4 * i + 1], f[4 * i + 2], f[4 * i + 3]};
    return b;
}

JNIEXPORT jlong JNICALL J(examAddTracklet)(JNIEnv *env, jclass cls, jlong h, jlong vid, jbyteArray ia,
                                           jint nodule, jlongArray fa, jfloatArray ba)
{
    char *id = NULL;
    jsize nf = 0, nb = 0;
    int64_t *frames = NULL;
    float *bf = NULL;
    nid_box *boxes = NULL;
    size_t index = 0;
    if (!get_cstr(env, ia, &id)) goto done;
    if (!(frames = get_longs(env, fa, "frames", &nf))) goto done;
    if (!(bf = get_floats(env, ba, "boxes", &nb))) goto done;
    if ((jlong)nb != 4 * (jlong)nf) { THROW_IAE("boxes: %d floats for %d frames", (int)nb, (int)nf); goto done; }
    if (!(boxes = boxes_from(bf, (size_t)nf, env))) goto done;
    /* A negative index becomes a huge size_t: the library reports RANGE. */
    check(env, nid_exam_add_tracklet(exam(h), (size_t)vid, id, nodule, frames, boxes, (size_t)nf, &index));
done:
    free(boxes); free(bf); free(frames); free(id);
    return (jlong)index;
}

JNIEXPORT jlong JNICALL J(linkDetections)(JNIEnv *env, jclass cls, jlong h, jlong vid, jlongArray fa,
                                          jfloatArray ba, jfloatArray sa, jlongArray oa)
{
    jsize nf = 0, nb = 0, ns = 0;
    int64_t *frames = get_longs(env, fa, "frames", &nf);
    float *bf = frames ? get_floats(env, ba, "boxes", &nb) : NULL;
    float *sc = bf ? get_floats(env, sa, "scores", &ns) : NULL;
    nid_detection *dets = NULL;
    size_t added = 0;
    if (!sc) goto done;
    if (nb != 4 * nf || ns != nf) { THROW_IAE("detections: inconsistent array lengths"); goto done; }
    if (!(dets = xmalloc(env, (size_t)nf * sizeof *dets))) goto done;
    for (jsize i = 0; i < nf; i++)
        dets[i] = (nid_detection){frames[i], {bf[4 * i], bf[4 * i + 1], bf[4 * i + 2], bf[4 * i + 3]}, sc[i]};
    nid_link_options o;
    char *none[1] = {NULL};
    if (!nidj_in_nid_link_options(env, &o, oa, NULL, none)) goto done;
    check(env, nid_link_detections(exam(h), (size_t)vid, dets, (size_t)nf, &o, &added));
done:
    free(dets); free(sc); free(bf); free(frames);
    return (jlong)added;
}

/* ------------------------------------------------------------------------ */
/* Clips                                                                    */
/* ------------------------------------------------------------------------ */

/* ClipOptions cross as a nid_clip_options layout (ClipOptions.toLayout). */
static int clip_opts(JNIEnv *env, jlongArray la, nid_clip_options *o)
{
    char *none[1] = {NULL};
    return nidj_in_nid_clip_options(env, o, la, NULL, none);
}

JNIEXPORT jlong JNICALL J(clipBuildDirect)(JNIEnv *env, jclass cls, jlong v, jlong e, jlong t, jlongArray ca, jobject ob, jint pos)
{
    nid_clip_options o;
    if (!clip_opts(env, ca, &o)) return 0;
    size_t avail, nc = 0;
    float *out = direct_at(env, ob, pos, -1, sizeof(float), "out", &avail);
    if (!out) return 0;
    if (check(env, nid_clip_build(video(v), exam(e), (size_t)t, &o, out, avail, &nc, NULL))) return 0;
    return (jlong)nc;
}

JNIEXPORT jfloatArray JNICALL J(cropResize)(JNIEnv *env, jclass cls, jbyteArray pa, jint width, jint height,
                                            jint stride, jint format, jlongArray ba, jlongArray ca)
{
    nid_clip_options o;
    nid_box box;
    char *none[1] = {NULL};
    if (!clip_opts(env, ca, &o) || !nidj_in_nid_box(env, &box, ba, NULL, none)) return NULL;
    jsize len;
    uint8_t *px = get_bytes(env, pa, "pixels", &len);
    if (!px) return NULL;
    jfloatArray r = NULL;
    float *out = NULL;
    size_t need = frame_bytes(width, height, stride, format);
    if (need && (size_t)len < need) {
        THROW_IAE("pixels: %d bytes, a %dx%d frame with stride %d needs %zu", (int)len, (int)width,
                  (int)height, (int)stride, need);
        goto done;
    }
    /* The output size follows the options; bad options get the library's
     * message (a 1-float buffer is enough to reach its checks). */
    size_t nf = 1;
    if (o.channels > 0 && o.height > 0 && o.width > 0)
        nf = (size_t)o.channels * (size_t)o.height * (size_t)o.width;
    if (!(out = xmalloc(env, nf * sizeof(float)))) goto done;
    nid_frame fr = {px, width, height, (size_t)(stride < 0 ? 0 : stride), format};
    if (!check(env, nid_crop_resize(&fr, &box, &o, out, nf, NULL))) r = new_floats(env, out, nf);
done:
    free(out);
    free(px);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

static const nid_model *model(jlong h) { return (const nid_model *)(intptr_t)h; }

/* D of a model, or 0 with an exception pending. */
static size_t model_dim(JNIEnv *env, jlong h)
{
    nid_model_info n;
    nid_model_info_init(&n);
    if (check(env, nid_model_get_info(model(h), &n))) return 0;
    return (size_t)n.embed_dim;
}

JNIEXPORT void JNICALL J(modelEmbedDirect)(JNIEnv *env, jclass cls, jlong h, jobject cb, jint cpos,
                                           jlong clips_len, jint n, jobject ob, jint opos)
{
    if (n < 0 || clips_len < 0) { THROW_IAE("n and clipsLen must be >= 0"); return; }
    const float *clips = direct_at(env, cb, cpos, clips_len, sizeof(float), "clips", NULL);
    if (!clips) return;
    size_t avail;
    float *out = direct_at(env, ob, opos, -1, sizeof(float), "out", &avail);
    if (!out) return;
    check(env, nid_model_embed(model(h), clips, (size_t)n, (size_t)clips_len, out, avail, NULL));
}

/* ------------------------------------------------------------------------ */
/* Gallery                                                                  */
/* ------------------------------------------------------------------------ */

static nid_gallery *gallery(jlong h) { return (nid_gallery *)(intptr_t)h; }

JNIEXPORT jlongArray JNICALL J(galleryMatch)(JNIEnv *env, jclass cls, jlong h, jbyteArray pa, jfloatArray xa,
                                             jint n, jint d, jfloat threshold, jbyteArray ma,
                                             jfloatArray dist_out)
{
    char *p = NULL, *mid = NULL;
    float *x = NULL, *dist = NULL;
    int64_t *m = NULL;
    jlongArray r = NULL;
    jsize len = 0;
    if (n < 0 || d < 0) { THROW_IAE("n and d must be >= 0"); return NULL; }
    if (!dist_out || (*env)->GetArrayLength(env, dist_out) < n) {
        THROW_IAE("distance array shorter than n = %d", (int)n);
        return NULL;
    }
    if (!get_cstr(env, pa, &p) || !get_cstr(env, ma, &mid) ||
        !(x = get_floats(env, xa, "embeddings", &len)))
        goto out;
    if ((jlong)len < (jlong)n * d) {
        THROW_IAE("embeddings has %d floats, n x d = %lld", (int)len, (long long)n * d);
        goto out;
    }
    nid_match_options o;
    nid_match_options_init(&o);
    if (threshold == threshold) o.threshold = threshold; /* NaN: default */
    if (mid && strlen(mid) >= sizeof o.model_id) {
        THROW_IAE("model id longer than %zu bytes", sizeof o.model_id - 1);
        goto out;
    }
    if (mid) strcpy(o.model_id, mid);
    if (!(m = xmalloc(env, (size_t)n * sizeof *m)) || !(dist = xmalloc(env, (size_t)n * sizeof *dist)))
        goto out;
    if (check(env, nid_gallery_match(gallery(h), p, x, (size_t)n, (size_t)d, &o, m, dist))) goto out;
    r = (*env)->NewLongArray(env, n);
    if (r) {
        set_longs(env, r, (const jlong *)m, n);
        (*env)->SetFloatArrayRegion(env, dist_out, 0, n, dist);
    }
out:
    free(p);
    free(mid);
    free(x);
    free(m);
    free(dist);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Exams end to end (nid_group_exam, nid_model_embed_exam)                  */
/* ------------------------------------------------------------------------ */

JNIEXPORT jstring JNICALL J(defaultModelPath)(JNIEnv *env, jclass cls, jintArray so)
{
    size_t need = 0;
    int src = 0;
    int rc = nid_default_model_path(NULL, 0, &need, &src);
    if (rc != NID_EBUFSIZE && check(env, rc)) return NULL;
    char *p = xmalloc(env, need ? need : 1);
    if (!p) return NULL;
    jstring r = NULL;
    if (!check(env, nid_default_model_path(p, need ? need : 1, NULL, &src))) {
        jint s = src;
        (*env)->SetIntArrayRegion(env, so, 0, 1, &s);
        r = jstr(env, p);
    }
    free(p);
    return r;
}

/* The callbacks of an exam-level call run on the calling thread, so the
 * JNIEnv of the native method is valid in them. A Java exception thrown by
 * a callback stays pending: every later callback then cancels without
 * calling Java, and check() rethrows it when the call returns. */
typedef struct exam_cb {
    JNIEnv   *env;
    jobject   obj;      /* org.noduleid.ExamCallbacks */
    jmethodID progress; /* void onProgress(long, long, String) */
    jmethodID abort;    /* boolean onAbort() */
    jmethodID video;    /* long onVideo(long): a released Video handle */
} exam_cb;

static int cb_progress(size_t done, size_t total, const char *id, void *payload)
{
    exam_cb *c = payload;
    JNIEnv *env = c->env;
    if ((*env)->ExceptionCheck(env)) return 1;
    jstring s = id ? jstr(env, id) : NULL;
    if ((*env)->ExceptionCheck(env)) return 1;
    (*env)->CallVoidMethod(env, c->obj, c->progress, (jlong)done, (jlong)total, s);
    if (s) (*env)->DeleteLocalRef(env, s);
    return (*env)->ExceptionCheck(env) ? 1 : 0;
}

static int cb_abort(void *payload)
{
    exam_cb *c = payload;
    JNIEnv *env = c->env;
    if ((*env)->ExceptionCheck(env)) return 1;
    jboolean stop = (*env)->CallBooleanMethod(env, c->obj, c->abort);
    return (*env)->ExceptionCheck(env) || stop ? 1 : 0;
}

static int cb_video(nid_video **out, const nid_exam *e, size_t v, void *payload)
{
    (void)e;
    exam_cb *c = payload;
    JNIEnv *env = c->env;
    if ((*env)->ExceptionCheck(env)) return NID_ECANCELED;
    jlong h = (*env)->CallLongMethod(env, c->obj, c->video, (jlong)v);
    if ((*env)->ExceptionCheck(env)) return NID_EINVAL; /* check() rethrows the Java exception */
    if (!h) return NID_EINVAL;
    *out = video(h);
    return NID_OK;
}

/* Fill o from the Java arguments; flags: 1 progress, 2 abort, 4 video source
 * (methods of cbo). 0 with an exception pending. */
static int group_opts(JNIEnv *env, nid_group_options *o, nid_clip_options *clip, exam_cb *c, jlongArray oa,
                      jlongArray ca, jobject cbo, jint flags)
{
    /* the numbers from Grouping.Options.toLayout; clip and callbacks below */
    char *none[1] = {NULL};
    nid_group_options_init(o);
    if (oa && !nidj_in_nid_group_options(env, o, oa, NULL, none)) return 0;
    if (ca) {
        if (!clip_opts(env, ca, clip)) return 0;
        o->clip = clip;
    }
    c->env = env;
    c->obj = cbo;
    if (flags && !cbo) { THROW_NPE("callbacks are null"); return 0; }
    if (flags) {
        jclass k = (*env)->GetObjectClass(env, cbo);
        if (!k) return 0;
        if (flags & 1) {
            if (!(c->progress = (*env)->GetMethodID(env, k, "onProgress", "(JJLjava/lang/String;)V"))) return 0;
            o->progress = cb_progress;
            o->progress_payload = c;
        }
        if (flags & 2) {
            if (!(c->abort = (*env)->GetMethodID(env, k, "onAbort", "()Z"))) return 0;
            o->abort = cb_abort;
            o->abort_payload = c;
        }
        if (flags & 4) {
            if (!(c->video = (*env)->GetMethodID(env, k, "onVideo", "(J)J"))) return 0;
            o->video_source = cb_video;
            o->video_payload = c;
        }
        (*env)->DeleteLocalRef(env, k);
    }
    return 1;
}

JNIEXPORT jfloatArray JNICALL J(modelEmbedExam)(JNIEnv *env, jclass cls, jlong h, jlong e, jlongArray ca, jobject cbo, jint flags, jintArray nca,
                                                jlongArray ta)
{
    nid_group_options o;
    nid_clip_options clip;
    exam_cb c = {0};
    if (!group_opts(env, &o, &clip, &c, NULL, ca, cbo, flags)) return NULL;
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    if (check(env, nid_exam_get_info(exam(e), &ei))) return NULL;
    size_t d = model_dim(env, h);
    if (!d) return NULL;
    size_t n = ei.n_tracklets;
    if (n > (size_t)INT_MAX / d) { THROW_IAE("%zu x %zu embeddings do not fit a Java array", n, d); return NULL; }
    float *emb = xmalloc(env, n * d * sizeof(float));
    int32_t *nc = emb ? xmalloc(env, n * sizeof(int32_t)) : NULL;
    jfloatArray r = NULL;
    nid_timings t;
    nid_timings_init(&t);
    if (nc && !check(env, nid_model_embed_exam(model(h), exam(e), &o, emb, n * d, NULL, nc, &t))) {
        if (nca && (*env)->GetArrayLength(env, nca) >= (jsize)n)
            (*env)->SetIntArrayRegion(env, nca, 0, (jsize)n, (const jint *)nc);
        if (ta) nidj_out_nid_timings(env, &t, ta);
        r = new_floats(env, emb, n * d);
    }
    free(nc);
    free(emb);
    return r;
}

static nid_grouping *grouping(jlong h) { return (nid_grouping *)(intptr_t)h; }

JNIEXPORT jlong JNICALL J(groupExam)(JNIEnv *env, jclass cls, jlong h, jlong e, jlongArray oa, jlongArray ca,
                                     jobject cbo, jint flags)
{
    nid_group_options o;
    nid_clip_options clip;
    exam_cb c = {0};
    if (!group_opts(env, &o, &clip, &c, oa, ca, cbo, flags)) return 0;
    nid_grouping *g = NULL;
    int rc = nid_group_exam(&g, model(h), exam(e), &o);
    if (rc >= 0 && (*env)->ExceptionCheck(env)) rc = NID_ECANCELED; /* not expected: keep the Java exception */
    if (check(env, rc)) {
        nid_grouping_free(g);
        return 0;
    }
    return (jlong)(intptr_t)g;
}

/* nid_grouping_nodules: sizes holds n_nodules entries without a capacity
 * (gen_jni.py HAND_WRITTEN). */
JNIEXPORT jfloatArray JNICALL J(groupingNodules)(JNIEnv *env, jclass cls, jlong g, jintArray sizes)
{
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    if (check(env, nid_grouping_get_info(grouping(g), &in))) return NULL;
    size_t n = in.n_nodules * in.embed_dim;
    if (n > INT_MAX) { THROW_IAE("%zu floats do not fit a Java array", n); return NULL; }
    if (!sizes || (*env)->GetArrayLength(env, sizes) < (jsize)in.n_nodules) {
        THROW_IAE("nid_grouping_nodules: sizes shorter than the %zu nodules", in.n_nodules);
        return NULL;
    }
    float *p = xmalloc(env, (n ? n : 1) * sizeof(float));
    int32_t *sz = p ? xmalloc(env, (in.n_nodules ? in.n_nodules : 1) * sizeof(int32_t)) : NULL;
    jfloatArray r = NULL;
    if (sz && !check(env, nid_grouping_nodules(grouping(g), p, n, sz, NULL))) {
        r = new_floats(env, p, n);
        (*env)->SetIntArrayRegion(env, sizes, 0, (jsize)in.n_nodules, (const jint *)sz);
    }
    free(sz);
    free(p);
    return r;
}

JNIEXPORT jfloatArray JNICALL J(clusterMeans)(JNIEnv *env, jclass cls, jfloatArray xa, jint n, jint d,
                                              jintArray la, jint k, jintArray ca)
{
    jsize lx = 0, ll = 0;
    float *x = get_floats(env, xa, "x", &lx);
    int32_t *lab = x ? get_ints(env, la, "labels", &ll) : NULL;
    float *out = NULL;
    int32_t *cnt = NULL;
    jfloatArray r = NULL;
    if (!lab || !check_rows(env, lx, n, d, "x")) goto done;
    if (ll != n) { THROW_IAE("labels has %d entries, x %d rows", (int)ll, (int)n); goto done; }
    if (k < 0 || (k > 0 && d > 0 && (size_t)k > (size_t)INT_MAX / (size_t)d)) {
        THROW_IAE("k = %d out of range", (int)k);
        goto done;
    }
    size_t cap = (size_t)k * (size_t)(d > 0 ? d : 0);
    if (!(out = xmalloc(env, (cap ? cap : 1) * sizeof(float))) ||
        !(cnt = xmalloc(env, (size_t)(k > 0 ? k : 1) * sizeof(int32_t))))
        goto done;
    if (!check(env, nid_cluster_means(x, (size_t)n, (size_t)d, lab, (size_t)k, out, cap, cnt))) {
        r = new_floats(env, out, cap);
        if (ca && (*env)->GetArrayLength(env, ca) >= k) (*env)->SetIntArrayRegion(env, ca, 0, k, (const jint *)cnt);
    }
done:
    free(cnt);
    free(out);
    free(lab);
    free(x);
    return r;
}

/* The exam's cannot-link pairs, flattened (2 ints per pair). */
JNIEXPORT jintArray JNICALL J(examCannotLink)(JNIEnv *env, jclass cls, jlong e, jfloat max_iou)
{
    size_t np = 0;
    int rc = nid_exam_cannot_link(exam(e), max_iou, NULL, 0, &np);
    if (rc != NID_EBUFSIZE && check(env, rc)) return NULL;
    if (np > INT_MAX / 2) { THROW_IAE("%zu pairs do not fit a Java array", np); return NULL; }
    uint32_t *p = xmalloc(env, (np ? 2 * np : 1) * sizeof(uint32_t));
    if (!p) return NULL;
    jintArray r = NULL;
    if (!check(env, nid_exam_cannot_link(exam(e), max_iou, p, np, &np)) &&
        (r = (*env)->NewIntArray(env, (jsize)(2 * np))))
        (*env)->SetIntArrayRegion(env, r, 0, (jsize)(2 * np), (const jint *)p);
    free(p);
    return r;
}
