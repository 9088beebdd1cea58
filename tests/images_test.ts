/**
 * The PNG decoder against ImageMagick's on every kind of PNG (fixtures made
 * by ImageMagick, tests/fixtures/png/README.md): 1-, 2-, 4-, 8- and 16-bit
 * grey, 2-, 4- and 8-bit palettes, interlaced, grey + alpha, RGBA.
 */
import assert from "node:assert/strict";
import { decodePgm, decodePng } from "../export/images.ts";

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
