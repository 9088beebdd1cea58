/**
 * The PNG decoder against ImageMagick's on every kind of PNG (fixtures made
 * by ImageMagick, tests/fixtures/png/README.md): 1-, 2-, 4-, 8- and 16-bit
 * grey, 2-, 4- and 8-bit palettes, interlaced, grey + alpha, RGBA; and JPEG
 * (grey and colour, decoded by jpeg-js) against ImageMagick's decoding too.
 */
import assert from "node:assert/strict";
import { decodePgm, decodePng, readImages } from "../data/images.ts";

const DIR = new URL("./fixtures/png/", import.meta.url);

Deno.test("images: every kind of PNG decodes to ImageMagick's grey levels", async () => {
  const names = (await Array.fromAsync(Deno.readDir(DIR)))
    .map((e) => e.name)
    .filter((n) => n.endsWith(".png"))
    .sort();
  assert.ok(names.length >= 10, `fixtures: ${names}`);
  for (const name of names) {
    const png = await decodePng(await Deno.readFile(new URL(name, DIR)), name);
    const ref = decodePgm(await Deno.readFile(new URL(name.replace(/\.png$/, ".expected.pgm"), DIR)), name);
    assert.deepEqual([png.rows, png.cols, png.count], [ref.rows, ref.cols, 1], name);
    // Colour and palette entries become grey by luma, rounded: ImageMagick may round the other way.
    const worst = png.images.reduce((m, v, i) => Math.max(m, Math.abs(v - ref.images[i])), 0);
    assert.ok(worst <= 1, `${name}: grey levels differ from ImageMagick's by up to ${worst}`);
  }
});

Deno.test("images: JPEG (grey and colour) decodes close to ImageMagick's grey levels, and a broken one is named", async () => {
  const dir = new URL("./fixtures/jpeg/", import.meta.url);
  for (const name of ["digit.jpg", "big-rgb.jpg"]) {
    const got = await readImages(new URL(name, dir).pathname);
    const ref = decodePgm(await Deno.readFile(new URL(`${name}.expected.pgm`, dir)), name);
    assert.deepEqual([got.rows, got.cols, got.count, got.format], [ref.rows, ref.cols, 1, "jpeg"], name);
    // Two JPEG decoders agree up to their inverse DCT's rounding, and colour to grey up to the luma weights (seen: 1).
    let sum = 0, worst = 0;
    got.images.forEach((v, i) => {
      const d = Math.abs(v - ref.images[i]);
      sum += d, worst = Math.max(worst, d);
    });
    assert.ok(
      sum / got.images.length < 0.1 && worst <= 2,
      `${name}: mean difference ${sum / got.images.length}, worst ${worst}`,
    );
  }
  const broken = await Deno.makeTempFile({ suffix: ".jpg" });
  try {
    await Deno.writeFile(broken, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    await assert.rejects(readImages(broken), /Cannot read JPEG image ".*\.jpg"/);
  } finally {
    await Deno.remove(broken);
  }
});
