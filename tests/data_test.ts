/** The idx reader on files written here (good and bad), preprocessing, and the real MNIST. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseIdx } from "../data/idx.ts";
import { readIdxFile } from "../data/idx_file.ts";
import { loadMnist } from "../data/mnist.ts";
import { preprocess } from "../data/preprocess.ts";
import { compress, idxFile as idx, withTempDir } from "./_files.ts";

/** Writes a small MNIST-format folder: 3 training and 2 test images of 2x2. */
async function writeSet(dir: string, opts: { trainLabels?: number[]; gz?: boolean; skip?: string } = {}) {
  const files: Record<string, Uint8Array> = {
    "train-images-idx3-ubyte": idx(8, [3, 2, 2], [0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9]),
    "train-labels-idx1-ubyte": idx(8, [opts.trainLabels?.length ?? 3], opts.trainLabels ?? [1, 2, 3]),
    "t10k-images-idx3-ubyte": idx(8, [2, 2, 2], [255, 255, 255, 255, 0, 0, 0, 0]),
    "t10k-labels-idx1-ubyte": idx(8, [2], [7, 0]),
  };
  for (const [name, bytes] of Object.entries(files)) {
    if (name === opts.skip) continue;
    if (opts.gz) await Deno.writeFile(join(dir, name + ".gz"), await compress("gzip", bytes));
    else await Deno.writeFile(join(dir, name), bytes);
  }
}

Deno.test("idx: reads uint8, int32 and float32 files, plain and gzip", async () => {
  const u8 = parseIdx(idx(8, [2, 3], [1, 2, 3, 4, 5, 6]), "u8");
  assert.equal(u8.magic, 2050);
  assert.deepEqual(u8.dims, [2, 3]);
  assert.deepEqual([...u8.data], [1, 2, 3, 4, 5, 6]);
  const i32 = new Uint8Array(8);
  new DataView(i32.buffer).setInt32(0, -5, false);
  new DataView(i32.buffer).setInt32(4, 70000, false);
  assert.deepEqual([...parseIdx(idx(0x0c, [2], i32), "i32").data], [-5, 70000]);
  const f32 = new Uint8Array(4);
  new DataView(f32.buffer).setFloat32(0, 1.5, false);
  assert.deepEqual([...parseIdx(idx(0x0d, [1], f32), "f32").data], [1.5]);
  await withTempDir(async (dir) => {
    const path = join(dir, "x.gz");
    await Deno.writeFile(path, await compress("gzip", idx(8, [3], [7, 8, 9])));
    assert.deepEqual([...(await readIdxFile(path, 2049)).data], [7, 8, 9]);
  });
});

Deno.test("idx: bad files name the file and the problem", async () => {
  assert.throws(() => parseIdx(idx(8, [3], [1, 2, 3]), "labels.idx", 2051), {
    message: `Cannot read idx file "labels.idx": magic number is 2049, expected 2051`,
  });
  assert.throws(() => parseIdx(idx(8, [2, 28, 28], new Uint8Array(100)), "short.idx"), {
    message:
      `Cannot read idx file "short.idx": file is truncated: it holds 116 bytes, expected 1584 for 2 x 28 x 28 uint8 values`,
  });
  assert.throws(
    () => parseIdx(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), "zip.idx"),
    /Cannot read idx file "zip.idx": magic number is 1347093252 \(0x504b0304\), not an idx header/,
  );
  assert.throws(() => parseIdx(new Uint8Array([0, 0]), "tiny"), {
    message: `Cannot read idx file "tiny": file holds 2 bytes, too short for an idx header`,
  });
  await assert.rejects(readIdxFile("/nonexistent/t10k-labels-idx1-ubyte"), {
    message: `Cannot read idx file "/nonexistent/t10k-labels-idx1-ubyte": no such file`,
  });
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "bad.gz"), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
    await assert.rejects(readIdxFile(join(dir, "bad.gz")), /Cannot read idx file ".*bad.gz": gzip data is corrupt/);
  });
});

Deno.test("mnist: a data folder loads (plain and .gz); count mismatch, bad label and missing file are named", async () => {
  for (const gz of [false, true]) {
    await withTempDir(async (dir) => {
      await writeSet(dir, { gz });
      const d = await loadMnist({ dir });
      assert.equal(d.train.count, 3);
      assert.equal(d.test.count, 2);
      assert.deepEqual([...d.train.labels], [1, 2, 3]);
      assert.deepEqual([...d.test.images.subarray(0, 4)], [255, 255, 255, 255]);
    });
  }
  const cases: [Parameters<typeof writeSet>[1], (dir: string) => RegExp][] = [
    [
      { trainLabels: [1, 2] },
      (d) =>
        new RegExp(
          `Cannot use "${d}": ".*train-images-idx3-ubyte" holds 3 images but ".*train-labels-idx1-ubyte" holds 2 labels`,
        ),
    ],
    [
      { trainLabels: [1, 12, 3] },
      () => /Cannot use ".*train-labels-idx1-ubyte": label 1 is 12, expected a class in 0..9/,
    ],
    [
      { skip: "t10k-labels-idx1-ubyte" },
      (d) => new RegExp(`Cannot find "t10k-labels-idx1-ubyte" \\(or "t10k-labels-idx1-ubyte.gz"\\) in "${d}"`),
    ],
  ];
  for (const [opts, message] of cases) {
    await withTempDir(async (dir) => {
      await writeSet(dir, opts);
      await assert.rejects(loadMnist({ dir }), message(dir));
    });
  }
});

Deno.test("preprocess: pad 28x28 to 32x32 with background -0.1, ink 1.175, linear in between", () => {
  const img = new Uint8Array(28 * 28);
  img[0] = 255; // top-left pixel of the image
  img[27 * 28 + 27] = 51; // bottom-right, a fifth of full ink
  const x = preprocess(img, 1, 28, 28);
  assert.equal(x.length, 32 * 32);
  assert.ok(Math.abs(x[0] - -0.1) < 1e-7, "padding is background");
  assert.ok(Math.abs(x[2 * 32 + 2] - 1.175) < 1e-6, "ink");
  assert.ok(Math.abs(x[29 * 32 + 29] - (-0.1 + 0.2 * 1.275)) < 1e-6, "grey");
  assert.ok(Math.abs(x[31 * 32 + 31] - -0.1) < 1e-7);
  assert.ok(Math.abs(x[10 * 32 + 10] - -0.1) < 1e-7, "white pixel");
});

Deno.test("mnist: the real data set from npm: shapes, verified files, test-set label counts", async () => {
  const d = await loadMnist();
  assert.equal(d.train.count, 60_000);
  assert.equal(d.test.count, 10_000);
  assert.deepEqual([d.train.rows, d.train.cols, d.test.rows, d.test.cols], [28, 28, 28, 28]);
  assert.equal(d.train.images.length, 60_000 * 784);
  const counts = new Array(10).fill(0);
  for (const l of d.test.labels) counts[l]++;
  assert.deepEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  // Preprocessed, the mean is near 0 and the variance near 1 (the paper's aim).
  const x = preprocess(d.test.images.subarray(0, 100 * 784), 100, 28, 28);
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
  assert.ok(Math.abs(mean) < 0.1 && variance > 0.1 && variance < 1.2, `mean ${mean}, variance ${variance}`);
});
