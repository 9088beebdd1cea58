/**
 * What a refused decompression bomb costs in time: a gzip idx file whose
 * 10x28x28 header sits on 200 MB of zeros, and a 28x28 PNG whose image data
 * inflates to 200 MB. Both stop one slice past the declared size (the tests
 * count the bytes inflated; this times them). Run with `deno task bench`.
 */
import { gunzipIdx } from "../data/idx.ts";
import { decodePng } from "../data/images.ts";
import { compress, idxHeader, png } from "../tests/_files.ts";

const MB = 2 ** 20;
const idxBomb = await compress("gzip", idxHeader(8, [10, 28, 28]), 200 * MB);
const pngBomb = png(28, 28, 8, 0, [await compress("deflate", new Uint8Array(0), 200 * MB)]);

/** Awaits `read`, which must fail. */
async function refused(read: Promise<unknown>): Promise<void> {
  if (await read.then(() => true, () => false)) throw new Error("the bomb was read");
}

Deno.bench("limits: gzip idx bomb (10x28x28 header on 200 MB of zeros) refused", async () => {
  await refused(gunzipIdx(idxBomb, "bomb"));
});

Deno.bench("limits: PNG bomb (28x28, image data inflating to 200 MB) refused", async () => {
  await refused(decodePng(pngBomb, "bomb.png"));
});
