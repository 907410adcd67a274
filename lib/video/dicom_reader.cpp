/*
 * dicom_reader.cpp - DICOM multi-frame images (ultrasound cine loops)
 * through DCMTK. The only file of the library that includes DCMTK.
 *
 * Supported: uncompressed, RLE Lossless and JPEG (baseline, extended,
 * progressive, lossless) transfer syntaxes; MONOCHROME1/2, RGB, YBR_* and
 * PALETTE COLOR photometric interpretations, as far as DicomImage renders
 * them. Colour images (palette included) render to RGB; GRAY8 output from
 * colour uses BT.601 luma (nid__pix_convert), monochrome data is rendered
 * with DicomImage's default VOI (none set: the stored bit range maps
 * linearly to 0..255, so 8-bit data passes unchanged); MONOCHROME1 is
 * inverted to MONOCHROME2 display values.
 *
 * Decoding is lazy and per frame: the dataset is parsed at open (pixel data
 * left on disk), and each request builds a DicomImage over just that frame
 * (CIF_UsePartialAccessToPixelData), or advances the current one with
 * processNextFrames(1) when reading sequentially. Memory stays at one frame
 * whatever the length of the loop; the file must stay in place while open.
 *
 * DCMTK's log (root logger of its log4cplus copy) is routed, once per
 * process, to nid__log() at debug level; this and DCMTK's decoder
 * registration (also process-wide) happen at the first open, in this
 * module: libnoduleid-dicom.so (lib/core/backend.h), whose one export,
 * nid_backend_dicom_v1, returns the table nid_dicom_api.
 *
 * Timing: Frame Time (0018,1063), else Frame Time Vector (0018,1065,
 * increments in ms, the first being 0), else Recommended Display Frame Rate
 * (0008,2144), else Cine Rate (0018,0040); none of them gives fps = 0.
 *
 * No C++ exception leaves this file: every entry point catches everything.
 */
#include "video_internal.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmimage/diregist.h"   /* colour (RGB, palette) support */
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/oflog/spi/logevent.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace {

const char *const FN = "nid_video_open";

/* A descriptor closed last (declared first in dicom_state). */
struct fd_holder {
    int fd = -1;
    ~fd_holder() { if (fd >= 0) ::close(fd); }
};

struct dicom_state {
    fd_holder mem;                    /* memfd of nid_video_open_memory    */
    std::string path;
    DcmFileFormat file;
    E_TransferSyntax xfer = EXS_Unknown;
    std::unique_ptr<DicomImage> img;  /* holds exactly one frame          */
    int64_t n = 0;
    int32_t w = 0, h = 0;
    bool color = false;               /* DicomImage renders RGB            */
    int32_t out_format = NID_PIX_GRAY8;
    int64_t cur = -1;                 /* frame rendered into buf           */
    std::vector<uint8_t> buf;         /* packed frame in out_format        */
};

std::once_flag codecs_once;

/* DCMTK logs warnings and errors to stderr by default; send them to
 * nid__log() at debug level instead, like FFmpeg's log, so the library stays
 * quiet and the messages are there for whoever installs a log callback. */
class nid_appender : public dcmtk::log4cplus::Appender {
public:
    ~nid_appender() override { destructorImpl(); }
    void close() override { closed = true; }

protected:
    void append(const dcmtk::log4cplus::spi::InternalLoggingEvent &ev) override
    {
        nid__log(NID_LOG_DEBUG, "dcmtk: %s: %s", ev.getLoggerName().c_str(),
                ev.getMessage().c_str());
    }
};

/* At process exit, before DCMTK's own static destructors (registered
 * earlier, when DCMTK was loaded, so they run later): DCMTK keeps its codec
 * registry in a static list whose entries only cleanup() frees. */
void cleanup_dcmtk()
{
    DJDecoderRegistration::cleanup();
    DcmRLEDecoderRegistration::cleanup();
}

void init_dcmtk()
{
    /* Process-wide and never undone while the process runs: another user
     * of DCMTK in the same process may rely on them too. */
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    std::atexit(cleanup_dcmtk);
    OFLog::getLogger("dcmtk.dcmdata");   /* runs DCMTK's default log setup */
    dcmtk::log4cplus::Logger root = dcmtk::log4cplus::Logger::getRoot();
    root.removeAllAppenders();
    root.addAppender(dcmtk::log4cplus::SharedAppenderPtr(new nid_appender));
}

/* The DicomImage of the current frame, positioned at `index`. */
int position(dicom_state *s, int64_t index)
{
    const unsigned long want = (unsigned long)index;
    if (s->img && s->img->getFirstFrame() == want) return NID_OK;
    if (s->img && s->img->getFirstFrame() + 1 == want &&
        s->img->processNextFrames(1) && s->img->getFirstFrame() == want &&
        s->img->getStatus() == EIS_Normal)
        return NID_OK;
    s->img.reset();
    s->img.reset(new DicomImage(&s->file, s->xfer,
                                CIF_UsePartialAccessToPixelData, want, 1));
    EI_Status st = s->img->getStatus();
    if (st != EIS_Normal) {
        std::string why = DicomImage::getString(st);
        s->img.reset();
        return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld: "
                        "cannot decode: %s", s->path.c_str(),
                        (long long)index, why.c_str());
    }
    return NID_OK;
}

/* Render the current frame of s->img into s->buf in s->out_format. */
int render(dicom_state *s, int64_t index)
{
    const void *px = s->img->getOutputData(8, 0, 0);
    const size_t npx = (size_t)s->w * (size_t)s->h;
    const size_t got_bytes = s->img->getOutputDataSize(8);
    const size_t want_bytes = npx * (s->color ? 3u : 1u);
    if (!px || got_bytes < want_bytes)
        return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld: "
                        "cannot render pixels (%zu of %zu bytes)",
                        s->path.c_str(), (long long)index,
                        px ? got_bytes : (size_t)0, want_bytes);
    nid_frame src;
    src.data = (const uint8_t *)px;
    src.width = s->w;
    src.height = s->h;
    src.format = s->color ? NID_PIX_RGB24 : NID_PIX_GRAY8;
    src.stride = (size_t)s->w * nid__pix_bytes(src.format);
    nid__pix_convert(&src, s->buf.data(),
                    (size_t)s->w * nid__pix_bytes(s->out_format), s->out_format);
    return NID_OK;
}

int dicom_read_impl(dicom_state *s, int64_t index, nid_frame *frame)
{
    if (s->cur != index) {
        s->cur = -1;
        int rc = position(s, index);
        if (!rc) rc = render(s, index);
        if (rc) return rc;
        s->cur = index;
    }
    frame->data = s->buf.data();
    frame->width = s->w;
    frame->height = s->h;
    frame->stride = (size_t)s->w * nid__pix_bytes(s->out_format);
    frame->format = s->out_format;
    return NID_OK;
}

/* Frame rate and per-frame times from the dataset's timing attributes. */
void read_timing(dicom_state *s, DcmDataset *ds, nid_video_src *src)
{
    Float64 ft = 0;
    src->info.fps = 0;
    if (ds->findAndGetFloat64(DCM_FrameTime, ft).good() && ft > 0) {
        src->info.fps = 1000.0 / ft;
        return;
    }
    DcmElement *el = NULL;
    if (ds->findAndGetElement(DCM_FrameTimeVector, el).good() && el &&
        (int64_t)el->getVM() == s->n && s->n > 1) {
        double *t = (double *)malloc((size_t)s->n * sizeof(double));
        bool ok = t != NULL;
        double acc = 0;
        for (int64_t i = 0; ok && i < s->n; i++) {
            Float64 d = 0;
            ok = ds->findAndGetFloat64(DCM_FrameTimeVector, d,
                                       (unsigned long)i).good() && d >= 0;
            acc += i ? d : 0.0;   /* the first increment is 0 by definition */
            if (ok) t[i] = acc / 1000.0;
        }
        if (ok && acc > 0) {
            src->times = t;
            src->info.fps = (double)(s->n - 1) / (acc / 1000.0);
            return;
        }
        free(t);
    }
    Sint32 rate = 0;
    Float64 frate = 0;
    if (ds->findAndGetFloat64(DCM_RecommendedDisplayFrameRate, frate).good() &&
        frate > 0) {
        src->info.fps = frate;
    } else if (ds->findAndGetSint32(DCM_RecommendedDisplayFrameRate, rate)
                   .good() && rate > 0) {
        src->info.fps = rate;
    } else if (ds->findAndGetSint32(DCM_CineRate, rate).good() && rate > 0) {
        src->info.fps = rate;
    }
}

/* The number of frames the pixel data holds: the header's Number of
 * Frames (0028,0008) is not trusted (a loop of 8 frames that claims 100
 * would report frames it cannot decode; one that claims 1, 0, -5 or "abc"
 * would hide 7). Native data: its length over the frame size. RLE: one
 * fragment per frame (PS3.5 A.4.2). Other encapsulated data: the Basic
 * Offset Table's entries, else the fragments that start a JPEG / JPEG-LS
 * (FF D8) or JPEG 2000 (FF 4F) codestream, else one frame per fragment. */
int count_frames(dicom_state *s, DcmDataset *ds, const char *fn,
                 unsigned long *n)
{
    DcmElement *el = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el)
        return nid__fail(NID_EFORMAT, "%s: '%s': no pixel data", fn,
                        s->path.c_str());
    DcmXfer xf(s->xfer);
    if (!xf.isEncapsulated()) {
        Uint32 fsize = 0;
        if (el->getUncompressedFrameSize(ds, fsize).bad() || fsize == 0)
            return nid__fail(NID_EFORMAT, "%s: '%s': cannot tell the size of "
                            "a frame (rows, columns, samples, bits)", fn,
                            s->path.c_str());
        *n = (unsigned long)(el->getLength() / fsize);
        if (*n == 0)
            return nid__fail(NID_EFORMAT, "%s: '%s': the pixel data (%lu "
                            "bytes) holds no whole frame of %lu bytes", fn,
                            s->path.c_str(), (unsigned long)el->getLength(),
                            (unsigned long)fsize);
        return NID_OK;
    }
    DcmPixelSequence *seq = NULL;
    DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
    if (pd->getEncapsulatedRepresentation(s->xfer, NULL, seq).bad() || !seq ||
        seq->card() < 2)
        return nid__fail(NID_EFORMAT, "%s: '%s': encapsulated pixel data "
                        "without fragments", fn, s->path.c_str());
    unsigned long frags = seq->card() - 1;
    DcmPixelItem *item = NULL;
    if (s->xfer == EXS_RLELossless) {
        *n = frags;
        return NID_OK;
    }
    if (seq->getItem(item, 0).good() && item && item->getLength() >= 4) {
        *n = item->getLength() / 4;
        return NID_OK;
    }
    unsigned long starts = 0;
    for (unsigned long i = 1; i <= frags; i++) {
        Uint8 *b = NULL;
        if (seq->getItem(item, i).good() && item && item->getLength() >= 2 &&
            item->getUint8Array(b).good() && b &&
            b[0] == 0xFF && (b[1] == 0xD8 || b[1] == 0x4F))
            starts++;
    }
    *n = starts ? starts : frags;
    return NID_OK;
}

/* Open a parsed dataset (file or memory): count and check the frames. */
int open_dataset(dicom_state *s, const char *fn, const nid_video_options *opts,
                 nid_video_src *src)
{
    const char *name = s->path.c_str();
    DcmDataset *ds = s->file.getDataset();
    s->xfer = ds->getOriginalXfer();
    if (!ds->tagExists(DCM_PixelData))
        return nid__fail(NID_EFORMAT, "%s: '%s': DICOM file without pixel "
                        "data (not an image)", fn, name);
    unsigned long n = 0;
    int rc = count_frames(s, ds, fn, &n);
    if (rc) return rc;
    if (n > (unsigned long)NID_MAX_FRAMES)
        return nid__fail(NID_ERANGE, "%s: '%s': %lu frames, more than the "
                        "limit of %lld (NID_MAX_FRAMES)", fn, name, n,
                        (long long)NID_MAX_FRAMES);
    OFString claimed;
    if (ds->findAndGetOFString(DCM_NumberOfFrames, claimed).bad())
        claimed = "(absent)";
    char num[32];
    std::snprintf(num, sizeof num, "%lu", n);
    if (claimed != num) {
        /* DicomImage decodes what Number of Frames says: make it true */
        nid__log(NID_LOG_DEBUG, "%s: '%s': Number of Frames is %s, the pixel "
                "data holds %lu frames", fn, name, claimed.c_str(), n);
        if (ds->putAndInsertString(DCM_NumberOfFrames, num).bad())
            return nid__fail(NID_ENOMEM, "%s: '%s': out of memory", fn, name);
    }
    /* The first frame validates the image and gives size and colour. */
    s->img.reset(new DicomImage(&s->file, s->xfer,
                                CIF_UsePartialAccessToPixelData, 0, 1));
    EI_Status st = s->img->getStatus();
    if (st != EIS_Normal)
        return nid__fail(NID_EFORMAT, "%s: '%s': cannot decode DICOM image: %s",
                        fn, name, DicomImage::getString(st));
    unsigned long w = s->img->getWidth(), h = s->img->getHeight();
    if (w == 0 || h == 0)
        return nid__fail(NID_EFORMAT, "%s: '%s': DICOM image of %lux%lu", fn,
                        name, w, h);
    if (w > NID_MAX_FRAME_SIDE || h > NID_MAX_FRAME_SIDE)
        return nid__fail(NID_ERANGE, "%s: '%s': frames of %lux%lu, more than "
                        "the limit of %dx%d (NID_MAX_FRAME_SIDE)", fn, name,
                        w, h, NID_MAX_FRAME_SIDE, NID_MAX_FRAME_SIDE);
    s->n = (int64_t)n;
    s->w = (int32_t)w;
    s->h = (int32_t)h;
    s->color = !s->img->isMonochrome();
    s->buf.resize((size_t)w * 3 * (size_t)h);

    /* The first and the last frame must render, so that a broken or short
     * file fails here and n_frames is a promise. */
    rc = render(s, 0);
    if (rc) return rc;
    s->cur = 0;
    if (n > 1) {
        rc = position(s, (int64_t)n - 1);
        if (!rc) rc = render(s, (int64_t)n - 1);
        if (rc) {
            std::string why = nid_last_error();
            return nid__fail(NID_EFORMAT, "%s: '%s': the last of %lu frames "
                            "does not decode: %s", fn, name, n, why.c_str());
        }
        s->cur = (int64_t)n - 1;
    }

    read_timing(s, ds, src);
    src->info.n_frames = s->n;
    src->info.width = s->w;
    src->info.height = s->h;
    src->info.format = s->out_format;
    std::snprintf(src->info.source, sizeof src->info.source, "dicom");
    const char *xs = DcmXfer(s->xfer).getXferName();
    std::snprintf(src->info.codec, sizeof src->info.codec, "%s",
                  xs ? xs : "unknown");
    (void)opts;
    return NID_OK;
}

int dicom_open_impl(const char *path, const nid_video_options *opts,
                    nid_video_src *src, dicom_state **out)
{
    std::call_once(codecs_once, init_dcmtk);
    std::unique_ptr<dicom_state> s(new dicom_state);
    s->path = path;
    s->out_format = opts->format;
    OFCondition c = s->file.loadFile(path);
    if (c.bad())
        return nid__fail(c == EC_InvalidFilename || c == EC_InvalidStream
                            ? NID_EIO : NID_EFORMAT,
                        "%s: '%s': cannot read DICOM: %s", FN, path, c.text());
    int rc = open_dataset(s.get(), FN, opts, src);
    if (rc) return rc;
    *out = s.release();
    return NID_OK;
}

/* Run f, turning any exception into a status. */
template <class F>
int guarded(const char *what, const char *path, F f)
{
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return nid__fail(NID_ENOMEM, "%s: '%s': out of memory", what, path);
    } catch (const std::exception &e) {
        return nid__fail(NID_EINTERNAL, "%s: '%s': DCMTK exception: %s", what,
                        path, e.what());
    } catch (...) {
        return nid__fail(NID_EINTERNAL, "%s: '%s': unknown C++ exception",
                        what, path);
    }
}

extern "C" int dicom_read(void *state, int64_t index, nid_frame *frame)
{
    dicom_state *s = (dicom_state *)state;
    return guarded("nid_video_frame", s->path.c_str(),
                   [&] { return dicom_read_impl(s, index, frame); });
}

extern "C" void dicom_close(void *state)
{
    try {
        delete (dicom_state *)state;
    } catch (...) {
    }
}

extern "C" int dicom_set_format(void *state, int32_t format)
{
    dicom_state *s = (dicom_state *)state;
    s->out_format = format;
    s->cur = -1;   /* re-rendered from the DicomImage on the next read */
    return NID_OK;
}

const nid_video_backend dicom_backend = {
    "dicom", dicom_read, dicom_close, dicom_set_format, NULL
};

} /* namespace */

/* The end of an open: on success the source takes the new state, on
 * failure the frame times collected so far are freed. */
static int dicom_adopt(int rc, nid_video_src *tmp, dicom_state *s,
                       nid_video_src *src)
{
    if (rc) {
        free(tmp->times);
        return rc;
    }
    tmp->backend = &dicom_backend;
    tmp->state = s;
    *src = *tmp;
    return NID_OK;
}

static int dicom_open(const char *path, const nid_video_options *opts,
                      nid_video_src *src)
{
    dicom_state *s = NULL;
    nid_video_src tmp = *src;
    int rc = guarded(FN, path, [&] {
        return dicom_open_impl(path, opts, &tmp, &s);
    });
    return dicom_adopt(rc, &tmp, s, src);
}

/* ---- DICOM from memory (a PACS plugin's instance buffer) ----------------- */

namespace {

int dicom_open_memory_impl(const void *data, size_t size, const char *name,
                           const nid_video_options *opts, nid_video_src *src,
                           dicom_state **out)
{
    const char *fn = "nid_video_open_memory";
    std::call_once(codecs_once, init_dcmtk);
    std::unique_ptr<dicom_state> s(new dicom_state);
    s->path = name;
    s->out_format = opts->format;
    if (size > (size_t)0xFFFFFFF0u)
        return nid__fail(NID_EFORMAT, "%s: '%s': %zu bytes is too large for "
                        "one DICOM instance", fn, name, size);
    /* The buffer goes into a memfd that DCMTK reads as a file: values are
     * then loaded lazily, as from a file, and a value that claims more
     * bytes than there are is never allocated at its claimed size (read
     * from a buffer stream, DCMTK loads every value at once: a 15 KB input
     * claiming 2.4 GB was allocated; found by fuzz_dicom). The memfd lives
     * as long as the handle; the caller's buffer is not kept. */
    s->mem.fd = memfd_create("nid-dicom", MFD_CLOEXEC);
    if (s->mem.fd < 0)
        return nid__fail(NID_EIO, "%s: '%s': cannot make a memory file: %s",
                        fn, name, std::strerror(errno));
    const unsigned char *p = (const unsigned char *)data;
    for (size_t off = 0; off < size;) {
        ssize_t w = ::write(s->mem.fd, p + off, size - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return nid__fail(NID_EIO, "%s: '%s': cannot copy %zu bytes to a "
                            "memory file: %s", fn, name, size,
                            std::strerror(errno));
        off += (size_t)w;
    }
    char mpath[64];
    std::snprintf(mpath, sizeof mpath, "/proc/self/fd/%d", s->mem.fd);
    OFCondition c = s->file.loadFile(mpath);
    if (c.bad())
        return nid__fail(NID_EFORMAT, "%s: '%s': cannot read DICOM (%zu "
                        "bytes): %s", fn, name, size, c.text());
    int rc = open_dataset(s.get(), fn, opts, src);
    if (rc) return rc;
    *out = s.release();
    return NID_OK;
}

} /* namespace */

static int dicom_open_memory(const void *data, size_t size,
                             const char *name, const nid_video_options *opts,
                             nid_video_src *src)
{
    dicom_state *s = NULL;
    nid_video_src tmp = *src;
    int rc = guarded("nid_video_open_memory", name, [&] {
        return dicom_open_memory_impl(data, size, name, opts, &tmp, &s);
    });
    return dicom_adopt(rc, &tmp, s, src);
}

/* ---- module entry (lib/core/backend.h) ---------------------------------- */

namespace {
const nid_dicom_api dicom_api = {
    {NID__BACKEND_ABI, sizeof(nid_dicom_api), "dicom", NID_VERSION_STRING,
     "DCMTK " OFFIS_DCMTK_VERSION_STRING, NID_FEATURE_DICOM},
    dicom_open,
    dicom_open_memory,
};
} // namespace

extern "C" __attribute__((visibility("default"))) const nid_backend_info *
nid_backend_dicom_v1(const nid_backend_host *host)
{
    if (!nid_backend_host_set(host))
        return nullptr;
    return &dicom_api.info;
}
