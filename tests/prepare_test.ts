/**
 * The image preparation of Fig. 9's "[deslant]" and "[16x16]" rows
 * (data/prepare.ts): deslanted images have their ink's principal axis
 * upright, measured here from the second moments; the 16x16 down-sampling
 * against an exact area average computed on a 4x finer grid.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { cropInto, deslantInto, downsampleInto, inkBox, moments, prepareSplit, readPrepare } from "../data/prepare.ts";
import { checkSplitFits } from "../data/source.ts";
import { buildModel } from "../engine/model.ts";
import { FIG9_NETWORKS } from "../presets/fig9.ts";
import { data } from "./_export_cases.ts";

/** mu11 / mu02 and the centre of mass, written out again. */
function slantOf(image: Uint8Array, side: number) {
  let m = 0, sx = 0, sy = 0;
  image.forEach((v, i) => {
    m += v;
    sx += v * (i % side);
    sy += v * Math.floor(i / side);
  });
  const cx = sx / m, cy = sy / m;
  let mu11 = 0, mu02 = 0;
  image.forEach((v, i) => {
    const x = i % side - cx, y = Math.floor(i / side) - cy;
    mu11 += v * x * y;
    mu02 += v * y * y;
  });
  return { slant: mu11 / mu02, cx, cy, ink: m };
}

Deno.test("prepare: a slanted bar comes out upright, its centre of mass in the middle of the 20x20 window", () => {
  const image = new Uint8Array(28 * 28);
  for (let y = 4; y < 24; y++) {
    const x = Math.round(8 + 0.6 * (y - 4));
    for (let dx = 0; dx < 3; dx++) image[y * 28 + x + dx] = 255;
  }
  const before = slantOf(image, 28);
  assert.ok(before.slant > 0.5, `the bar leans: ${before.slant}`);
  assert.ok(Math.abs(moments(image, 28, 28).slant - before.slant) < 1e-12);
  const out = new Uint8Array(400);
  deslantInto(image, 28, 28, 20, out, 0);
  const after = slantOf(out, 20);
  assert.ok(Math.abs(after.slant) < 0.03, `upright: ${after.slant}`);
  assert.ok(Math.abs(after.cx - 9.5) < 0.5 && Math.abs(after.cy - 9.5) < 0.5, `centred: ${after.cx}, ${after.cy}`);
  assert.ok(Math.abs(after.ink - before.ink) < 0.02 * before.ink, `no ink lost: ${after.ink} of ${before.ink}`);
});

Deno.test("prepare: 500 MNIST test digits deslanted stand upright where the 20x20 window holds all their ink", async () => {
  const { test } = await data();
  const n = 500, out = new Uint8Array(400);
  let whole = 0, most = 0;
  for (let i = 0; i < n; i++) {
    const image = test.images.subarray(i * 784, (i + 1) * 784);
    const before = slantOf(image, 28);
    deslantInto(image, 28, 28, 20, out, 0);
    const after = slantOf(out, 20);
    most = Math.max(most, Math.abs(before.slant));
    assert.ok(after.ink > 0.9 * before.ink, `digit ${i} keeps most of its ink: ${after.ink} of ${before.ink}`);
    // A digit wider than 20 pixels once upright loses its edges to the crop, and their share of the moments with them.
    if (after.ink < 0.99 * before.ink) continue;
    whole++;
    assert.ok(Math.abs(after.slant) < 0.02, `digit ${i}: ${before.slant} -> ${after.slant}`);
  }
  assert.ok(whole >= 0.99 * n && most > 0.5, `${whole} of ${n} whole; the most slanted ${most}`);
});

Deno.test("prepare: the 16x16 down-sampling is the exact area average (cells of a finer grid), from 28x28 and 20x20", async () => {
  const { test } = await data();
  const out = new Uint8Array(256);
  // From a side of 28 (20), output pixel (r, c) covers cells 7r..7r+6 (5r..5r+4) of a grid 4x finer than the image.
  for (const side of [28, 20]) {
    const cells = (4 * side) / 16, image = new Uint8Array(side * side);
    let equal = 0;
    for (let i = 0; i < 50; i++) {
      // The 28x28 digit, or its central 20x20.
      const cut = (28 - side) / 2;
      for (let y = 0; y < side; y++) {
        image.set(
          test.images.subarray(i * 784 + (y + cut) * 28 + cut, i * 784 + (y + cut) * 28 + cut + side),
          y * side,
        );
      }
      downsampleInto(image, side, side, 16, out, 0);
      for (let r = 0; r < 16; r++) {
        for (let c = 0; c < 16; c++) {
          let s = 0;
          for (let a = cells * r; a < cells * (r + 1); a++) {
            for (let b = cells * c; b < cells * (c + 1); b++) s += image[Math.floor(a / 4) * side + Math.floor(b / 4)];
          }
          const expected = s / (cells * cells), got = out[r * 16 + c];
          assert.ok(Math.abs(got - expected) <= 0.5 + 1e-9, `${side}: digit ${i} (${r}, ${c}): ${got} vs ${expected}`);
          if (got === Math.round(expected)) equal++;
        }
      }
    }
    assert.ok(equal > 0.99 * 50 * 256, `${side}: ${equal} of ${50 * 256} rounded alike`);
  }
});

Deno.test("prepare: crop 20 gives back MNIST's 20x20 box: all the ink of 1000 test digits, copied, centred", async () => {
  const { test } = await data();
  const n = 1000, out = new Uint8Array(400);
  for (let i = 0; i < n; i++) {
    const image = test.images.subarray(i * 784, (i + 1) * 784);
    cropInto(image, 28, 28, 20, out, 0);
    let inkBefore = 0, inkAfter = 0;
    for (const v of image) inkBefore += v;
    for (const v of out) inkAfter += v;
    assert.equal(inkAfter, inkBefore, `digit ${i} keeps all its ink`);
    // The window is the image shifted by whole pixels: find the shift from the first inked pixel, then check all 400.
    const box = inkBox(out, 20, 20)!, whole = inkBox(image, 28, 28)!;
    const dy = whole.top - box.top, dx = whole.left - box.left;
    for (let r = 0; r < 20; r++) {
      for (let c = 0; c < 20; c++) {
        assert.equal(out[r * 20 + c], image[(r + dy) * 28 + c + dx], `digit ${i} (${r}, ${c})`);
      }
    }
    // Centred: the margins above and below (left and right) differ by at most one pixel.
    assert.ok(Math.abs(box.top - (19 - box.bottom)) <= 1 && Math.abs(box.left - (19 - box.right)) <= 1, `digit ${i}`);
  }
  // A blank image gives the image's centre; ink wider than the window loses its edges, never its centre.
  const blank = new Uint8Array(784), wide = new Uint8Array(784);
  cropInto(blank, 28, 28, 20, out, 0);
  assert.ok(out.every((v) => v === 0));
  for (let x = 1; x < 27; x++) wide[14 * 28 + x] = 255;
  cropInto(wide, 28, 28, 20, out, 0);
  assert.deepEqual([...out.subarray(9 * 20, 10 * 20)], new Array(20).fill(255));
});

Deno.test("prepare: the prepared splits fit the Fig. 9 networks that prepare their images", async () => {
  const { test } = await data();
  const few = { ...test, images: test.images.subarray(0, 10 * 784), labels: test.labels.subarray(0, 10), count: 10 };
  for (const net of FIG9_NETWORKS.filter((n) => n.graph.prepare)) {
    const model = buildModel(net.graph, { registry: defaultRegistry });
    const split = prepareSplit(few, model.prepare);
    checkSplitFits(model, split, "test images");
    assert.throws(() => checkSplitFits(model, few, "test images"), /its images are 28x28/, net.name);
  }
  assert.equal(prepareSplit(few, []), few);
});

Deno.test("prepare: a bad step names the entry and what was expected", () => {
  assert.deepEqual(readPrepare(undefined), []);
  assert.throws(() => readPrepare({ type: "deslant" }), /field "prepare" must be a list of steps/);
  assert.throws(
    () => readPrepare([{ type: "blur", size: 3 }]),
    /entry 0: "type" must be one of deslant, crop, downsample/,
  );
  assert.throws(() => readPrepare([{ type: "deslant", size: 0 }]), /entry 0: "size" must be an integer in 1\.\.1024/);
  assert.throws(
    () => readPrepare([{ type: "downsample", size: 16 }, { type: "deslant", size: 20, angle: 1 }]),
    /entry 1: field "angle" is not a known field/,
  );
  assert.throws(
    () =>
      buildModel({ ...FIG9_NETWORKS[0].graph, prepare: [{ type: "deslant" }] as never }, { registry: defaultRegistry }),
    /Cannot build graph: field "prepare" entry 0: "size" must be an integer/,
  );
});
