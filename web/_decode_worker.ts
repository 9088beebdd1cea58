/**
 * The worker of web/decode_pool.ts: decodes one PNG request body at a time
 * and makes it MNIST-like, off the server's thread. It keeps nothing from one
 * body to the next.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { isBlank, mnistify } from "../data/mnistify.ts";
import { decodePng, ImageError } from "../data/images.ts";
import type { DecodeJob, DecodeReply } from "./decode_pool.ts";

self.onmessage = async ({ data: job }: MessageEvent<DecodeJob>) => {
  let reply: DecodeReply, transfer: Transferable[] = [];
  try {
    const png = await decodePng(new Uint8Array(job.body), "request body", { maxPixels: job.maxPixels });
    const { image, box, inverted } = mnistify(png.images, png.cols, png.rows);
    const noInk = box !== null
      ? null
      : isBlank(png.images)
      ? `every pixel is grey level ${png.images[0]}`
      : `no pixel is ${inverted ? "darker" : "lighter"} than the background`;
    reply = { id: job.id, ok: true, decoded: { image, width: png.cols, height: png.rows, noInk } };
    transfer = [image.buffer as ArrayBuffer]; // mnistify allocates it
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    reply = { id: job.id, ok: false, imageError: e instanceof ImageError, message };
  }
  self.postMessage(reply, transfer);
};
