/* fuzz_gallery.c - gallery files (nid_gallery_load). The first input byte
 * picks the mode:
 *   even: the rest is the file as is (magic, sizes and CRCs must hold by
 *         chance, so this mostly exercises the header checks);
 *   odd:  the rest is a 132-byte header followed by a *raw* payload; the
 *         harness compresses the payload and fixes magic, version, sizes
 *         and all three CRCs (docs/gallery-format.md) so that inputs reach
 *         the entry parser.
 * Whatever loads must save and reload to the same entries. */
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "noduleid.h"

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void roundtrip(nid_gallery *g)
{
    const char *a = fuzz_scratch("g.gal");
    int rc = nid_gallery_save(g, a);
    FUZZ_CHECK(rc == NID_OK, "save: %s", nid_last_error());
    nid_gallery *r = NULL;
    rc = nid_gallery_load(&r, a);
    FUZZ_CHECK(rc == NID_OK, "reload: %s", nid_last_error());
    nid_gallery_info i1, i2;
    nid_gallery_info_init(&i1);
    nid_gallery_info_init(&i2);
    nid_gallery_get_info(g, &i1);
    nid_gallery_get_info(r, &i2);
    FUZZ_CHECK(i1.n_entries == i2.n_entries && i1.embed_dim == i2.embed_dim &&
               !strcmp(i1.model_id, i2.model_id), "info differs");
    float *x = malloc(i1.embed_dim * sizeof *x), *y = malloc(i1.embed_dim * sizeof *y);
    for (size_t i = 0; x && y && i < i1.n_entries; i++) {
        nid_gallery_get_embedding(g, i, x, i1.embed_dim);
        nid_gallery_get_embedding(r, i, y, i1.embed_dim);
        FUZZ_CHECK(!memcmp(x, y, i1.embed_dim * sizeof *x),
                   "entry %zu changed", i);
    }
    free(x);
    free(y);
    nid_gallery_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *file = data + 1;
    size_t flen = size - 1;
    unsigned char *made = NULL;
    if ((data[0] & 1) && flen >= 132) {
        const uint8_t *raw = file + 132;
        size_t rlen = flen - 132;
        uLongf clen = compressBound((uLong)rlen);
        made = malloc(132 + clen);
        if (!made) return 0;
        memcpy(made, file, 132);
        if (compress2(made + 132, &clen, raw, (uLong)rlen, 1) != Z_OK) {
            free(made);
            return 0;
        }
        memcpy(made, "\x89NIDGAL\n", 8);
        put32(made + 8, 1);
        put32(made + 12, 0);
        put32(made + 16, get32(made + 16) % 64 + 1);   /* small dims */
        put32(made + 20, 0);
        put64(made + 32, rlen);
        put64(made + 40, clen);
        put32(made + 48, (uint32_t)crc32(0, raw, (uInt)rlen));
        put32(made + 52, (uint32_t)crc32(0, made + 132, (uInt)clen));
        made[127] = '\0';
        put32(made + 128, (uint32_t)crc32(0, made, 128));
        file = made;
        flen = 132 + clen;
    }
    const char *p = fuzz_file(file, flen);
    nid_gallery *g = NULL;
    int rc = p ? nid_gallery_load(&g, p) : NID_EIO;
    fuzz_file_close();
    free(made);
    if (rc == NID_OK) roundtrip(g);
    nid_gallery_free(g);
    return 0;
}
