/**
 * Distortions of training patterns: the warp against the forward affine map it
 * inverts, exact shifts, determinism of distorted training, bad settings.
 */
import assert from "node:assert/strict";
import {
  checkDistortionRanges,
  DEFAULT_DISTORTION,
  distortInto,
  type Distortion,
  NO_DISTORTION,
  randomDistortion,
} from "../data/distort.ts";
import type { Split } from "../data/mnist.ts";
import { defaultRegistry } from "../builtins.ts";
import { fit } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer } from "../engine/train.ts";

const N = 12;

Deno.test("distort: the identity copies the image; whole-pixel shifts move it and fill with background", () => {
  const img = Float32Array.from({ length: N * N }, (_, i) => Math.sin(i));
  const out = new Float32Array(N * N);
  distortInto(img, 0, N, N, out, 0, NO_DISTORTION, -1);
  assert.deepEqual(out, img);
  distortInto(img, 0, N, N, out, 0, { ...NO_DISTORTION, dx: 2, dy: -1 }, -1);
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < N; c++) {
      const sr = r + 1, sc = c - 2;
      const want = sr < N && sc >= 0 ? img[sr * N + sc] : -1;
      assert.ok(Math.abs(out[r * N + c] - want) < 1e-6, `(${r}, ${c}): ${out[r * N + c]} vs ${want}`);
    }
  }
});

Deno.test("distort: each output pixel holds the source point the forward map sends there (linear image, bilinear exact)", () => {
  // On a linear image bilinear interpolation is exact, so the value at an output
  // pixel tells which source point was sampled; the forward map of the
  // distortion must send that point back onto the pixel.
  const a = 0.37, b = -0.81, e = 0.5, cx = (N - 1) / 2, cy = cx;
  const img = new Float32Array(N * N), img2 = new Float32Array(N * N);
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < N; c++) {
      img[r * N + c] = a * c + b * r + e;
      img2[r * N + c] = r;
    }
  }
  const rng = new Rng(3);
  for (let t = 0; t < 20; t++) {
    const d: Distortion = randomDistortion(rng, { translate: 1, scale: 0.2, squeeze: 0.3, shear: 0.4 });
    const out = new Float32Array(N * N), rows = new Float32Array(N * N);
    distortInto(img, 0, N, N, out, 0, d, NaN);
    distortInto(img2, 0, N, N, rows, 0, d, NaN);
    let checked = 0;
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < N; c++) {
        if (Number.isNaN(out[r * N + c])) continue; // sampled outside: background
        const v = rows[r * N + c], u = (out[r * N + c] - b * v - e) / a;
        const x = d.scale * d.squeeze * (u - cx + d.shear * (v - cy)) + d.dx;
        const y = (d.scale / d.squeeze) * (v - cy) + d.dy;
        const close = Math.abs(x - (c - cx)) < 1e-4 && Math.abs(y - (r - cy)) < 1e-4;
        assert.ok(close, `${JSON.stringify(d)} at (${r}, ${c})`);
        checked++;
      }
    }
    assert.ok(checked > N * N / 3, `only ${checked} pixels inside`);
  }
});

Deno.test("distort: distorted training is deterministic for a seed and differs from undistorted training", async () => {
  const count = 64, side = 28;
  const rng = new Rng(5);
  const images = Uint8Array.from({ length: count * side * side }, () => (rng.next() < 0.2 ? 255 : 0));
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  const split: Split = { images, labels, count, rows: side, cols: side };
  const graph = {
    input: [1, 32, 32],
    layers: [{ type: "subsample", size: 4 }, { type: "flatten" }, { type: "full", units: 10 }],
    loss: { type: "softmax-cross-entropy" },
  };
  const run = async (distort: boolean) => {
    const model = buildModel(graph, { registry: defaultRegistry, seed: 1 });
    const opt = createOptimizer({ type: "sgd", lr: 0.05 }, model, defaultRegistry);
    const options = { passes: 2, batch: 4, seed: 9, ...(distort ? { distort: DEFAULT_DISTORTION } : {}) };
    await fit(model, opt, { train: split, test: split }, options);
    return Float32Array.from(model.params);
  };
  const a = await run(true), b = await run(true), plain = await run(false);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, plain);
});

Deno.test("distort: bad ranges name the field", () => {
  assert.throws(() => checkDistortionRanges({ shear: -1 }, "settings.distort"), {
    message: "settings.distort.shear must be a number in [0, 2), got -1",
  });
  assert.throws(() => checkDistortionRanges({ rotate: 1 }, "settings.distort"), {
    message: 'settings.distort has an unknown field "rotate"; expected translate, scale, squeeze, shear',
  });
  assert.deepEqual(checkDistortionRanges({}, "x"), DEFAULT_DISTORTION);
});
