/*
 * torch_shim.cpp - the only file of the project's libraries that includes
 * libtorch.
 *
 * Built as the backend module libnoduleid-torch.so (lib/core/backend.h),
 * which libnoduleid loads at the first nid_model_load(); the module's one
 * export is nid_backend_torch_v1, returning the table nid_torch_api.
 *
 * Process-wide settings of libtorch live here and nowhere else: the
 * intra-op thread count (at::set_num_threads, set to the model's
 * n_threads when a thread runs a model with another count) and the
 * inter-op pool (one thread, set once per process), the quantized
 * engine (oneDNN, set when an int8 graph is loaded), and glibc's malloc
 * thresholds (tune_malloc, at the first load). A host process that also
 * uses libtorch itself shares these settings with this module.
 *
 * Thin extern "C" functions (declared in model_internal.h) around a
 * torch::jit::Module: load a package, optimise it for inference, run
 * forward and verify. Every entry point runs its body inside guarded(),
 * which catches every C++ exception and turns it into a status and a
 * message (c10::Error::what_without_backtrace(), without the C++ stack), so
 * nothing C++ crosses into C. Checks of metadata, sizes and arguments live
 * in model.c and package.c.
 */
#include <torch/script.h>
#include <torch/version.h>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <caffe2/serialize/inline_container.h>
#include <c10/core/InferenceMode.h>
#if defined(NID_HAVE_CUDA)
#include <torch/cuda.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "model_internal.h"

extern "C" int nid_backend_host_set(const nid_backend_host *host);

struct nid_torch {
    torch::jit::Module module;
    c10::Device device{c10::kCPU};
    std::string device_name;
    int n_threads = 1;
    bool has_verify = false;
    bool bf16 = false; // run forward and verify under CPU bf16 autocast
    bool bf16_graph = false; // module is the package's bf16 (oneDNN) graph
    bool int8 = false; // module is the package's int8 graph
    bool optimized = false; // module went through optimize_for_inference
};

namespace {

// TorchScript interpreter errors carry the serialized and the original
// traceback; the raised message is their last line. Keep messages short
// enough for nid_last_error().
std::string short_message(const char *what)
{
    std::string s = what ? what : "";
    if (s.find("Traceback of TorchScript") != std::string::npos) {
        while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
            s.pop_back();
        size_t nl = s.rfind('\n');
        if (nl != std::string::npos)
            s = s.substr(nl + 1);
        static const char prefix[] = "builtins.";
        if (s.compare(0, sizeof prefix - 1, prefix) == 0)
            s = s.substr(sizeof prefix - 1);
    }
    for (char &c : s)
        if (c == '\n')
            c = ' ';
    if (s.size() > 700)
        s = s.substr(0, 700) + "...";
    return s;
}

// Run f() and map every exception to a status: `status` for libtorch and
// TorchScript errors, NID_ENOMEM for allocation failures.
template <class F>
int guarded(const char *ctx, const char *doing, int status, F &&f) noexcept
{
    try {
        return f();
    } catch (const c10::OutOfMemoryError &e) {
        return nid__fail(NID_ENOMEM, "%s: %s: out of memory: %s", ctx, doing,
                        short_message(e.what_without_backtrace()).c_str());
    } catch (const c10::Error &e) {
        return nid__fail(status, "%s: %s: %s", ctx, doing,
                        short_message(e.what_without_backtrace()).c_str());
    } catch (const std::bad_alloc &) {
        return nid__fail(NID_ENOMEM, "%s: %s: out of memory", ctx, doing);
    } catch (const std::exception &e) {
        return nid__fail(status, "%s: %s: %s", ctx, doing,
                        short_message(e.what()).c_str());
    } catch (...) {
        return nid__fail(NID_EINTERNAL, "%s: %s: unknown C++ exception", ctx,
                        doing);
    }
}

std::mutex g_threads_mutex;
std::once_flag g_interop_once;
std::once_flag g_malloc_once;

// glibc's malloc serves blocks above its mmap threshold (128 KiB at
// first, then raised to the largest block freed, up to 32 MiB) with a
// fresh mmap() and returns them with munmap(), and gives back the top of
// its heap beyond the trim threshold: a forward pass allocates and frees
// activations of several MB per layer, so each pass faulted their pages
// in afresh (the default model at 8 clips per pass: 8.4 ms/clip; two of
// its 37 convolutions took 14 ms instead of 1.6 ms, on a 9.4 MB output).
// Fixed thresholds (mmap above 32 MiB, trim beyond 64 MiB of free heap
// top) keep them in the heap: 2.5 ms/clip (bench/bench_embed_peak.sh).
// Process-wide, set once at the first load; a process that set its own
// (GLIBC_TUNABLES with malloc settings, MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_) or NODULEID_MALLOC_TUNE=0 keeps glibc's.
void tune_malloc()
{
#if defined(__GLIBC__)
    std::call_once(g_malloc_once, [] {
        const char *off = std::getenv("NODULEID_MALLOC_TUNE");
        const char *gt = std::getenv("GLIBC_TUNABLES");
        if ((off && std::strcmp(off, "0") == 0) ||
            (gt && std::strstr(gt, "glibc.malloc.")) ||
            std::getenv("MALLOC_MMAP_THRESHOLD_") ||
            std::getenv("MALLOC_TRIM_THRESHOLD_"))
            return;
        if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 ||
            mallopt(M_TRIM_THRESHOLD, 64 << 20) != 1)
            nid__log(NID_LOG_DEBUG, "libtorch module: mallopt refused the "
                    "malloc thresholds");
    });
#endif
}

// libtorch's intra-op thread count is a process-wide setting that each
// thread applies to its OpenMP team on its first parallel region; set it
// when this thread's count differs (normally only at load). The inter-op
// pool is not used by these models: one thread, set once per process
// (set_num_interop_threads throws if the process already set it or ran
// inter-op work; then it stays as it is).
void apply_threads(int n)
{
    std::call_once(g_interop_once, [] {
        try {
            at::set_num_interop_threads(1);
        } catch (...) {
        }
    });
    if (at::get_num_threads() != n) {
        std::lock_guard<std::mutex> lock(g_threads_mutex);
        at::set_num_threads(n);
    }
}

// Intra-op threads of one forward pass: the model's count, but at most one
// per PASS_BYTES_PER_THREAD of input on the CPU. A pass of one small clip
// (the default model's 0.3 MB) runs no faster on 2 threads than on 1 and
// costs twice the CPU time; batches of them and large clips use them all
// (bench/bench_precision.sh). Only for the optimised (oneDNN) module and
// the int8 graph, whose convolutions split work by output, so that the
// numbers do not depend on the count; ATen's own conv3d (a module run as
// stored) reduces in another order with other counts.
constexpr size_t PASS_BYTES_PER_THREAD = (size_t)1 << 20;

int pass_threads(const nid_torch *t, size_t numel)
{
    int n = t->n_threads;
    if (!t->device.is_cpu() || n <= 1 ||
        !(t->optimized || t->int8 || t->bf16_graph))
        return n;
    size_t want = (numel * sizeof(float) + PASS_BYTES_PER_THREAD - 1) /
                  PASS_BYTES_PER_THREAD;
    return want < (size_t)n ? (want > 0 ? (int)want : 1) : n;
}

// CPU autocast to bfloat16 for the current thread while it lives: the
// dispatcher casts the inputs of convolutions and matrix products (the
// packages' frozen fp32 weight constants included) to bfloat16 and runs
// them in oneDNN; other ops keep float32. Packages are frozen graphs with
// weights as constants and check that their input is float32, so
// converting the weights or the input is not an option.
struct AutocastBf16 {
    bool prev_enabled;
    at::ScalarType prev_dtype;
    AutocastBf16()
        : prev_enabled(at::autocast::is_cpu_enabled()),
          prev_dtype(at::autocast::get_autocast_cpu_dtype())
    {
        at::autocast::set_cpu_enabled(true);
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::increment_nesting();
    }
    ~AutocastBf16()
    {
        if (at::autocast::decrement_nesting() == 0)
            at::autocast::clear_cache();
        at::autocast::set_cpu_enabled(prev_enabled);
        at::autocast::set_autocast_cpu_dtype(prev_dtype);
    }
};

// Per-thread, 64-byte aligned staging buffer for input that is not aligned
// (see nid__torch_forward). Reused across calls: a fresh libtorch tensor per
// call costs an allocation (mmap for large blocks) and page faults, which
// the small default model notices (~5% of a call). Holds the largest batch
// a thread has embedded until the thread exits.
struct Staging {
    float *p = nullptr;
    size_t cap = 0;
    ~Staging() { std::free(p); }
    float *get(size_t n)
    {
        if (n > cap) {
            std::free(p);
            size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
            p = static_cast<float *>(std::aligned_alloc(64, bytes));
            cap = p ? n : 0;
        }
        return p;
    }
};
thread_local Staging g_staging;

torch::jit::Module &mod(const nid_torch *t)
{
    // Running a method does not change the module; TorchScript's executors
    // lock their own plan caches, so one module serves many threads.
    return const_cast<nid_torch *>(t)->module;
}

} // namespace

extern "C" int nid__torch_load(nid_torch **out, const char *path,
                              const char *device, int n_threads,
                              char **meta_json, size_t *meta_len,
                              int *has_verify, const char *ctx)
{
    return guarded(ctx, "torch::jit::load", NID_EFORMAT, [&]() -> int {
        std::unique_ptr<nid_torch> t(new nid_torch);
        std::string dev = device;
        if (dev == "cpu") {
            t->device = c10::Device(c10::kCPU);
        } else if (dev.compare(0, 4, "cuda") == 0) {
#if defined(NID_HAVE_CUDA)
            if (!torch::cuda::is_available())
                return nid__fail(NID_ENOTSUP, "%s: device \"%s\": no CUDA device "
                                "is available", ctx, device);
            c10::Device d(dev); // "cuda" or "cuda:N"; syntax checked by model.c
            long count = (long)torch::cuda::device_count();
            if (d.has_index() && d.index() >= count)
                return nid__fail(NID_ENOTSUP, "%s: device \"%s\": only %ld CUDA "
                                "device(s)", ctx, device, count);
            t->device = d;
#else
            return nid__fail(NID_ENOTSUP, "%s: device \"%s\": libnoduleid was "
                            "built without CUDA (NID_WITH_CUDA=OFF)", ctx, device);
#endif
        } else {
            return nid__fail(NID_EINVAL, "%s: unknown device \"%s\" (expected "
                            "\"cpu\", \"cuda\" or \"cuda:N\")", ctx, device);
        }
        t->device_name = t->device.str();
        t->n_threads = n_threads;
        apply_threads(n_threads);
        tune_malloc();

        torch::jit::ExtraFilesMap extra{{NID__MODEL_META_NAME, ""}};
        t->module = torch::jit::load(std::string(path), t->device, extra);
        t->module.eval();
        t->has_verify = t->module.find_method("verify").has_value();

        const std::string &js = extra[NID__MODEL_META_NAME];
        char *copy = nullptr;
        if (!js.empty()) {
            copy = static_cast<char *>(std::malloc(js.size() + 1));
            if (!copy)
                return nid__fail(NID_ENOMEM, "%s: out of memory", ctx);
            std::memcpy(copy, js.data(), js.size());
            copy[js.size()] = '\0';
        }
        *meta_json = copy;
        *meta_len = js.size();
        *has_verify = t->has_verify ? 1 : 0;
        *out = t.release();
        return NID_OK;
    });
}

extern "C" int nid__torch_optimize(nid_torch *t, const char *ctx)
{
    if (!t->device.is_cpu())
        return NID_OK;
    return guarded(ctx, "optimize_for_inference", NID_EINTERNAL, [&]() -> int {
        std::vector<std::string> keep;
        if (t->has_verify)
            keep.push_back("verify");
        torch::jit::Module m = t->module;
        // optimize_for_inference freezes an unfrozen module itself but then
        // keeps only forward: freeze first, keeping verify.
        if (m.hasattr("training"))
            m = torch::jit::freeze(m, keep, true);
        m = torch::jit::optimize_for_inference(m, keep);
        if (t->has_verify && !m.find_method("verify").has_value())
            return nid__fail(NID_EINTERNAL, "%s: optimize_for_inference dropped "
                            "verify", ctx);
        t->module = m;
        t->optimized = true;
        return NID_OK;
    });
}

namespace {
// The first "flags" line of /proc/cpuinfo, with a space at each end; empty
// where there is none.
std::string cpu_flags()
{
    try {
        std::ifstream f("/proc/cpuinfo");
        std::string line;
        while (std::getline(f, line))
            if (line.compare(0, 5, "flags") == 0)
                return ' ' + line + ' ';
    } catch (...) {
    }
    return std::string();
}

bool has_flag(const std::string &flags, const char *flag)
{
    return flags.find(std::string(" ") + flag + " ") != std::string::npos;
}

// Replace t's module by the package's extra file `name`, a TorchScript
// module (the `what` = "int8" or "bf16" graph), loaded for t's device.
// NID_ENOTSUP, with the module left as it was, where the package has none
// (`add`: the command that adds one) or where it lacks the verify method of
// a VM. Exceptions (a graph that does not load) go to the caller's guard.
int swap_in_graph(nid_torch *t, const char *path, const char *name,
                  const char *what, const char *add, const char *ctx)
{
    caffe2::serialize::PyTorchStreamReader reader{std::string(path)};
    std::string rec = std::string("extra/") + name;
    if (!reader.hasRecord(rec))
        return nid__fail(NID_ENOTSUP, "%s: precision %s: the package has no "
                        "%s graph (%s; add one with %s)", ctx, what, what,
                        name, add);
    auto data = reader.getRecord(rec);
    std::string bytes(static_cast<const char *>(std::get<0>(data).get()),
                      std::get<1>(data));
    std::istringstream in(bytes);
    torch::jit::Module q = torch::jit::load(in, t->device);
    q.eval();
    if (t->has_verify && !q.find_method("verify").has_value())
        return nid__fail(NID_ENOTSUP, "%s: precision %s: the %s graph has no "
                        "verify method", ctx, what, what);
    t->module = q;
    return NID_OK;
}
} // namespace

extern "C" int nid__torch_cpu_has_bf16(void)
{
    std::string f = cpu_flags();
    return has_flag(f, "avx512_bf16") || has_flag(f, "amx_bf16");
}

extern "C" int nid__torch_to_bf16(nid_torch *t, const char *ctx)
{
    if (!t->device.is_cpu())
        return nid__fail(NID_ENOTSUP, "%s: precision bf16 is implemented for "
                        "the CPU only", ctx);
    t->bf16 = true;
    return NID_OK;
}

extern "C" int nid__torch_to_int8(nid_torch *t, const char *path,
                                 const char *ctx)
{
    if (!t->device.is_cpu())
        return nid__fail(NID_ENOTSUP, "%s: precision int8 is implemented for "
                        "the CPU only", ctx);
    return guarded(ctx, "int8 graph", NID_EFORMAT, [&]() -> int {
        const auto &engines = at::globalContext().supportedQEngines();
        bool onednn = false;
        for (at::QEngine e : engines)
            onednn = onednn || e == at::QEngine::ONEDNN;
        if (!onednn)
            return nid__fail(NID_ENOTSUP, "%s: precision int8: this libtorch "
                            "has no oneDNN quantized engine", ctx);
        {
            // Quantized weights are packed for the engine current at load.
            std::lock_guard<std::mutex> lock(g_threads_mutex);
            if (at::globalContext().qEngine() != at::QEngine::ONEDNN)
                at::globalContext().setQEngine(at::QEngine::ONEDNN);
        }
        int rc = swap_in_graph(t, path, NID__MODEL_INT8_NAME, "int8",
                               "python3 -m training quantize", ctx);
        t->int8 = rc == NID_OK;
        return rc;
    });
}

extern "C" int nid__torch_to_bf16_graph(nid_torch *t, const char *path,
                                       const char *ctx)
{
    if (!t->device.is_cpu())
        return nid__fail(NID_ENOTSUP, "%s: precision bf16 is implemented for "
                        "the CPU only", ctx);
    // oneDNN's bf16 convolutions need AVX-512 BW, VL and DQ (libtorch
    // refuses them otherwise); AVX-512 BF16 or AMX make them fast.
    std::string f = cpu_flags();
    if (!has_flag(f, "avx512bw") || !has_flag(f, "avx512vl") ||
        !has_flag(f, "avx512dq"))
        return nid__fail(NID_ENOTSUP, "%s: precision bf16: the package's bf16 "
                        "graph needs AVX-512 BW/VL/DQ, which this CPU lacks "
                        "(/proc/cpuinfo)", ctx);
    return guarded(ctx, "bf16 graph", NID_EFORMAT, [&]() -> int {
        int rc = swap_in_graph(t, path, NID__MODEL_BF16_NAME, "bf16",
                               "python3 -m training quantize --precision bf16",
                               ctx);
        t->bf16_graph = rc == NID_OK;
        return rc;
    });
}

extern "C" int nid__torch_forward(const nid_torch *t, const float *x,
                                 const int64_t shape[5], int check_finite,
                                 float *out, size_t out_cap, int64_t got[2],
                                 int status, const char *ctx)
{
    return guarded(ctx, "forward", status, [&]() -> int {
        size_t numel = 1;
        for (int i = 0; i < 5; i++)
            numel *= (size_t)shape[i];
        apply_threads(pass_threads(t, numel));
        c10::InferenceMode guard;
        at::IntArrayRef sizes(shape, 5);
        at::Tensor in;
        float *buf = nullptr;
        if (t->device.is_cpu() && reinterpret_cast<uintptr_t>(x) % 64 != 0 &&
            (buf = g_staging.get(numel)) != nullptr) {
            // oneDNN runs measurably slower (8% for the compact R(2+1)D at
            // 16x256x128) on input that is not 64-byte aligned, as malloc's
            // large blocks are not; a copy into aligned memory costs far
            // less.
            std::memcpy(buf, x, numel * sizeof(float));
            in = torch::from_blob(buf, sizes, torch::kFloat32);
        } else {
            in = torch::from_blob(const_cast<float *>(x), sizes, torch::kFloat32);
            if (!t->device.is_cpu())
                in = in.to(t->device);
        }
        // A NaN or Inf anywhere makes the sum non-finite.
        if (check_finite && !std::isfinite(in.sum().item<float>()))
            return NID__TORCH_NONFINITE;
        std::unique_ptr<AutocastBf16> ac;
        if (t->bf16)
            ac.reset(new AutocastBf16);
        std::vector<c10::IValue> args;
        args.emplace_back(std::move(in));
        c10::IValue r = mod(t).forward(std::move(args));
        ac.reset();
        if (!r.isTensor())
            return nid__fail(NID_EMISMATCH, "%s: forward returned a %s, expected "
                            "a tensor", ctx, r.tagKind().c_str());
        at::Tensor o = r.toTensor();
        got[0] = o.dim() >= 1 ? o.size(0) : 0;
        got[1] = o.dim() >= 2 ? o.size(1) : 0;
        if (o.dim() != 2 || (size_t)o.numel() != out_cap)
            return NID__TORCH_SHAPE;
        o = o.to(torch::kCPU, torch::kFloat32).contiguous();
        std::memcpy(out, o.data_ptr<float>(), out_cap * sizeof(float));
        return NID_OK;
    });
}

extern "C" int nid__torch_verify(const nid_torch *t, const float *a,
                                const float *b, size_t n, size_t d,
                                float *out, int64_t *got_len, int status,
                                const char *ctx)
{
    return guarded(ctx, "verify", status, [&]() -> int {
        apply_threads(t->n_threads);
        c10::InferenceMode guard;
        std::vector<int64_t> shape{(int64_t)n, (int64_t)d};
        at::Tensor ta = torch::from_blob(const_cast<float *>(a), shape, torch::kFloat32);
        at::Tensor tb = torch::from_blob(const_cast<float *>(b), shape, torch::kFloat32);
        if (!t->device.is_cpu()) {
            ta = ta.to(t->device);
            tb = tb.to(t->device);
        }
        std::vector<c10::IValue> args;
        args.emplace_back(std::move(ta));
        args.emplace_back(std::move(tb));
        std::unique_ptr<AutocastBf16> ac;
        if (t->bf16)
            ac.reset(new AutocastBf16);
        c10::IValue r = mod(t).get_method("verify")(std::move(args));
        ac.reset();
        if (!r.isTensor())
            return nid__fail(NID_EMISMATCH, "%s: verify returned a %s, expected "
                            "a tensor", ctx, r.tagKind().c_str());
        at::Tensor o = r.toTensor();
        *got_len = o.dim() == 1 ? o.size(0) : -1;
        if (o.dim() != 1 || (size_t)o.numel() != n)
            return NID__TORCH_SHAPE;
        o = o.to(torch::kCPU, torch::kFloat32).contiguous();
        std::memcpy(out, o.data_ptr<float>(), n * sizeof(float));
        return NID_OK;
    });
}

extern "C" int nid__torch_clone(const nid_torch *t, nid_torch **out,
                               const char *ctx)
{
    return guarded(ctx, "clone", NID_EINTERNAL, [&]() -> int {
        std::unique_ptr<nid_torch> c(new nid_torch(*t));
        c->module = t->module.clone();
        *out = c.release();
        return NID_OK;
    });
}

extern "C" const char *nid__torch_device(const nid_torch *t)
{
    return t->device_name.c_str();
}

extern "C" void nid__torch_free(nid_torch *t)
{
    try {
        delete t;
    } catch (...) {
    }
}

// The module's table and entry (lib/core/backend.h).
namespace {
const nid_torch_api g_api = {
    {NID__BACKEND_ABI, sizeof(nid_torch_api), "torch", NID_VERSION_STRING,
     "libtorch " TORCH_VERSION,
#if defined(NID_HAVE_CUDA)
     NID_FEATURE_TORCH | NID_FEATURE_CUDA
#else
     NID_FEATURE_TORCH
#endif
    },
    nid__torch_load, nid__torch_optimize, nid__torch_cpu_has_bf16,
    nid__torch_to_bf16, nid__torch_forward, nid__torch_verify, nid__torch_clone,
    nid__torch_device, nid__torch_free, nid__torch_to_int8,
    nid__torch_to_bf16_graph,
};
} // namespace

extern "C" __attribute__((visibility("default"))) const nid_backend_info *
nid_backend_torch_v1(const nid_backend_host *host)
{
    if (!nid_backend_host_set(host))
        return nullptr;
    return &g_api.info;
}
