/**
 * Compressed input is bounded by its header (issue 13, defect 4): gzip idx
 * files and PNG images that inflate far beyond what their header declares
 * stop early with an error, headers declaring too much are refused before
 * anything is allocated, and valid files still decode.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { IdxError, inflatedBytes, MAX_IDX_BYTES, parseIdx } from "../data/idx.ts";
import { readIdxFile } from "../data/idx_file.ts";
import { ImageError, MAX_PNG_BYTES, MAX_PNG_SIDE, readImages } from "../data/images.ts";
import { encodePng } from "../report/png.ts";
import { compress, idxHeader, MB, png, withTempDir } from "./_files.ts";

/** The most one slice of compressed input (8 KiB in data/idx.ts) inflates to, at deflate's largest ratio of 1,032. */
const SLICE_OUTPUT = 1032 * 8192;

/** Runs `read`, which must fail, and returns its error and the bytes decompression handed out before it. */
async function refusal(read: () => Promise<unknown>): Promise<{ error: unknown; inflated: number }> {
  const before = inflatedBytes();
  const error = await read().then(() => undefined, (e: unknown) => e);
  return { error, inflated: inflatedBytes() - before };
}

Deno.test("limits: a gzip idx file whose 10x28x28 header sits on 200 MB of zeros stops at the declared size", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bomb-idx3-ubyte.gz");
    const bomb = await compress("gzip", idxHeader(8, [10, 28, 28]), 200 * MB);
    assert.ok(bomb.length < 400_000, `the bomb is small (${bomb.length} bytes)`);
    await Deno.writeFile(path, bomb);
    const { error, inflated } = await refusal(() => readIdxFile(path, 2051));
    assert.ok(error instanceof IdxError, `expected an IdxError, got ${error}`);
    assert.equal(
      error.message,
      `Cannot read idx file "${path}": gzip data inflates to more than the 7856 bytes its header declares for 10 x 28 x 28 uint8 values: trailing data`,
    );
    // The declared bytes and at most the one slice's output that passed them, not the 200 MB.
    assert.ok(inflated <= 7856 + SLICE_OUTPUT, `inflated ${inflated} bytes`);
  });
});

Deno.test("limits: an idx header declaring more than MAX_IDX_BYTES is refused before allocation, gzip or plain", async () => {
  await withTempDir(async (dir) => {
    const header = idxHeader(8, [1e6, 1e4, 1e4]);
    const expected = (path: string) =>
      `Cannot read idx file "${path}": its header declares 1000000 x 10000 x 10000 uint8 values, 100000000000016 bytes, more than the limit of ${MAX_IDX_BYTES} bytes (MAX_IDX_BYTES)`;
    const gz = join(dir, "huge.gz");
    await Deno.writeFile(gz, await compress("gzip", header, MB));
    const { error, inflated } = await refusal(() => readIdxFile(gz));
    assert.ok(error instanceof IdxError, `expected an IdxError, got ${error}`);
    assert.equal(error.message, expected(gz));
    // Refused on the first output that holds the header: no more than one slice's, and nothing allocated for it.
    assert.ok(inflated <= SLICE_OUTPUT, `inflated ${inflated} bytes`);

    const plain = join(dir, "huge-idx3-ubyte");
    await Deno.writeFile(plain, header);
    await assert.rejects(readIdxFile(plain), { name: "IdxError", message: expected(plain) });
    // Just over the limit, and a product that overflows to Infinity.
    assert.throws(() => parseIdx(idxHeader(8, [MAX_IDX_BYTES]), "edge"), {
      message: `Cannot read idx file "edge": its header declares ${MAX_IDX_BYTES} uint8 values, ${
        MAX_IDX_BYTES + 8
      } bytes, more than the limit of ${MAX_IDX_BYTES} bytes (MAX_IDX_BYTES)`,
    });
    const dims = Array.from({ length: 40 }, () => 0xffffffff);
    assert.throws(() => parseIdx(idxHeader(0x0e, dims), "inf"), /Infinity bytes, more than the limit/);
  });
});

Deno.test("limits: a 28x28 PNG whose image data inflates to 200 MB stops at the bytes the image needs", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bomb.png");
    const bomb = png(28, 28, 8, 0, [await compress("deflate", new Uint8Array(0), 200 * MB)]);
    assert.ok(bomb.length < 400_000, `the bomb is small (${bomb.length} bytes)`);
    await Deno.writeFile(path, bomb);
    const { error, inflated } = await refusal(() => readImages(path));
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${error}`);
    assert.equal(
      error.message,
      `Cannot read PNG image "${path}": image data inflates to more than the 812 bytes a 28x28 8-bit grey image needs`,
    );
    assert.ok(inflated <= 812 + SLICE_OUTPUT, `inflated ${inflated} bytes`);
  });
});

Deno.test("limits: a PNG over MAX_PNG_SIDE or MAX_PNG_BYTES is refused from its header", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "huge.png");
    const idat = [await compress("deflate", new Uint8Array(0), 1000)];
    await Deno.writeFile(path, png(100000, 100000, 8, 0, idat));
    const { error, inflated } = await refusal(() => readImages(path));
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${error}`);
    assert.equal(
      error.message,
      `Cannot read PNG image "${path}": header gives 100000x100000 pixels, more than the limit of ${MAX_PNG_SIDE} pixels a side (MAX_PNG_SIDE)`,
    );
    assert.equal(inflated, 0, "refused before its image data is inflated");

    await Deno.writeFile(path, png(8192, 8192, 16, 6, idat));
    await assert.rejects(readImages(path), {
      name: "ImageError",
      message: `Cannot read PNG image "${path}": a 8192x8192 16-bit RGBA image holds ${
        8192 * 8192 * 8
      } bytes of samples, more than the limit of ${MAX_PNG_BYTES} (MAX_PNG_BYTES)`,
    });
    await Deno.writeFile(path, png(0, 28, 8, 0, idat));
    await assert.rejects(readImages(path), /header gives 0x28 pixels, expected at least 1x1/);
  });
});

Deno.test("limits: valid gzip idx files and PNG images still decode; short data and cut chunks are named", async () => {
  await withTempDir(async (dir) => {
    // Incompressible pixels, so the gzip input spans several slices.
    let seed = 7;
    const pixels = Uint8Array.from({ length: 3 * 100 * 100 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    const idx = join(dir, "images.gz");
    const file = new Uint8Array([...idxHeader(8, [3, 100, 100]), ...pixels]);
    await Deno.writeFile(idx, await compress("gzip", file));
    const read = await readIdxFile(idx, 2051);
    assert.deepEqual(read.dims, [3, 100, 100]);
    assert.deepEqual(read.data, pixels);
    assert.deepEqual(await readImages(idx), { images: pixels, count: 3, rows: 100, cols: 100, format: "idx" });

    // Wider types decode from the buffer the stream filled (big-endian, at an offset).
    const values = [-2.5, 1e300, 7];
    const body = new Uint8Array(24);
    values.forEach((v, i) => new DataView(body.buffer).setFloat64(8 * i, v, false));
    await Deno.writeFile(idx, await compress("gzip", new Uint8Array([...idxHeader(0x0e, [3]), ...body])));
    assert.deepEqual([...(await readIdxFile(idx)).data], values);

    // Too little data, and a stream too short for its header.
    await Deno.writeFile(idx, await compress("gzip", idxHeader(8, [2, 28, 28]), 100));
    await assert.rejects(readIdxFile(idx), {
      message:
        `Cannot read idx file "${idx}": file is truncated: it holds 116 bytes, expected 1584 for 2 x 28 x 28 uint8 values`,
    });
    await Deno.writeFile(idx, await compress("gzip", new Uint8Array([0, 0, 8, 3, 0, 0])));
    await assert.rejects(readIdxFile(idx), /file holds 6 bytes, too short for a header of 3 dimensions/);

    // PNG: grey and RGB from the report's encoder, and image data split over many IDAT chunks.
    const grey = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 37) % 256);
    const path = join(dir, "digit.png");
    await Deno.writeFile(path, await encodePng(grey, 28, 28, 1));
    assert.deepEqual(await readImages(path), { images: grey, count: 1, rows: 28, cols: 28, format: "png" });
    await Deno.writeFile(path, await encodePng(grey.map((g) => 255 - g), 28, 28, 1));
    assert.deepEqual((await readImages(path, { invert: true })).images, grey);
    const rgb = Uint8Array.from({ length: 28 * 28 * 3 }, (_, i) => grey[Math.floor(i / 3)]);
    await Deno.writeFile(path, await encodePng(rgb, 28, 28, 3));
    assert.deepEqual((await readImages(path)).images, grey);
    const raw = new Uint8Array(28 * 29);
    for (let y = 0; y < 28; y++) raw.set(grey.subarray(28 * y, 28 * y + 28), 29 * y + 1);
    const zlib = await compress("deflate", raw);
    const pieces = Array.from({ length: Math.ceil(zlib.length / 7) }, (_, i) => zlib.subarray(7 * i, 7 * i + 7));
    await Deno.writeFile(path, png(28, 28, 8, 0, pieces));
    assert.deepEqual((await readImages(path)).images, grey);

    await Deno.writeFile(path, png(28, 28, 8, 0, [await compress("deflate", raw.subarray(0, 800))]));
    await assert.rejects(readImages(path), {
      name: "ImageError",
      message: `Cannot read PNG image "${path}": image data holds 800 bytes, expected 812`,
    });
    const whole = png(28, 28, 8, 0, [zlib]);
    await Deno.writeFile(path, whole.subarray(0, 33 + 12 + zlib.length - 5));
    await assert.rejects(readImages(path), {
      name: "ImageError",
      message: `Cannot read PNG image "${path}": chunk IDAT at byte 33 runs past the end of the file: it needs ${
        12 + zlib.length
      } bytes (length, type, ${zlib.length} of data, CRC), the file has ${7 + zlib.length} left`,
    });
  });
});
