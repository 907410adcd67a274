package org.noduleid;

/** Arithmetic of the network (nid_precision, nid_model_options.precision).
 *  FP32 is the default; BF16 needs a CPU with AVX-512 BF16 or AMX-BF16, INT8
 *  a package with an int8 graph ({@code python3 -m training quantize}); where
 *  they are unavailable the model runs in FP32 with a logged warning. */
public enum Precision {
    /** float32 (NID_PRECISION_FP32). */
    FP32(Consts.NID_PRECISION_FP32),
    /** bfloat16 convolutions and matrix products (NID_PRECISION_BF16). */
    BF16(Consts.NID_PRECISION_BF16),
    /** the package's statically quantised int8 CNN (NID_PRECISION_INT8). */
    INT8(Consts.NID_PRECISION_INT8),
    /** bf16 where the package's bf16 graph holds the accuracy bound (cosine
     *  0.999 to fp32) and the CPU has native bf16, else fp32
     *  (NID_PRECISION_AUTO); the model's info says which runs. */
    AUTO(Consts.NID_PRECISION_AUTO);

    final int code;
    Precision(int code) { this.code = code; }

    /** The library's value (nid_precision). */
    public int code() { return code; }

    static Precision of(int code) {
        for (Precision p : values()) if (p.code == code) return p;
        throw new IllegalArgumentException("unknown precision " + code);
    }
}
