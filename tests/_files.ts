/**
 * Files for tests that feed the readers: idx headers and files, gzip and
 * deflate streams, PNG chunks and files.
 *
 * @module
 */

import { concatBytes } from "../data/idx.ts";
export const MB = 2 ** 20;

/** Compresses `head` then `zeros` zero bytes, streaming 1 MB at a time so that the test itself stays light. */
export async function compress(format: "gzip" | "deflate", head: Uint8Array, zeros = 0): Promise<Uint8Array> {
  const zero = new Uint8Array(MB);
  let left = zeros;
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head.slice());
    },
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, zero.length);
      left -= n;
      controller.enqueue(zero.subarray(0, n));
    },
  });
  return new Uint8Array(await new Response(input.pipeThrough(new CompressionStream(format))).arrayBuffer());
}

/** An idx header: type code and dimensions. */
export function idxHeader(type: number, dims: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** One PNG chunk: length, type, data, CRC. */
export function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  let c = 0xffffffff;
  for (const b of out.subarray(4, 8 + data.length)) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  view.setUint32(8 + data.length, (c ^ 0xffffffff) >>> 0);
  return out;
}

/** A PNG file: signature, IHDR (non-interlaced), the IDAT chunks given, IEND. */
export function png(width: number, height: number, depth: number, colour: number, idat: Uint8Array[]): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colour;
  const signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return concat(signature, chunk("IHDR", ihdr), ...idat.map((d) => chunk("IDAT", d)), chunk("IEND", new Uint8Array(0)));
}

/** An idx file: header and the values as bytes (uint8 data). */
export function idxFile(
  type: number,
  dims: number[],
  data: ArrayLike<number> = new Uint8Array(dims.reduce((a, b) => a * b, 1)),
) {
  return concat(idxHeader(type, dims), data);
}

/** An MNIST-format folder at `dir`: `train` and `test` images of rows x cols (random ink) with labels 0..9. */
export async function writeMnistFolder(dir: string, rows: number, cols: number, train = 20, test = 10): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const images = (n: number) => Uint8Array.from({ length: n * rows * cols }, (_, i) => (i * 7919) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  await Deno.writeFile(`${dir}/train-images-idx3-ubyte`, idxFile(8, [train, rows, cols], images(train)));
  await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, idxFile(8, [train], labels(train)));
  await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, idxFile(8, [test, rows, cols], images(test)));
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, idxFile(8, [test], labels(test)));
}

/** The parts one after another. */
export const concat = (...parts: ArrayLike<number>[]): Uint8Array => concatBytes(parts);

/** Runs `body` with a new temporary folder, removed afterwards. */
export async function withTempDir(body: (dir: string) => Promise<void>, prefix = "lenet5-test-"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A 28x28 digit drawn 10 times larger (280x280) and inverted: dark ink on white, as a user would save it. */
export function bigInverted(image: Uint8Array): Uint8Array {
  const big = new Uint8Array(280 * 280);
  for (let y = 0; y < 280; y++) {
    for (let x = 0; x < 280; x++) big[y * 280 + x] = 255 - image[Math.floor(y / 10) * 28 + Math.floor(x / 10)];
  }
  return big;
}
