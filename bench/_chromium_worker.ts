/**
 * The Web Worker of compare.ts's `engine-chromium` row, bundled by
 * bench/_chromium.ts with esbuild as the page's workers are: times
 * one-pattern SDLM training of lenet5 (bench/_sdlm_rate.ts) for the seconds
 * and repetitions it is sent, and posts the result.
 *
 * @module
 */
/// <reference lib="webworker" />
import { sdlmRate } from "./_sdlm_rate.ts";

self.onmessage = async (e: MessageEvent<{ seconds: number; reps: number }>) => {
  (self as DedicatedWorkerGlobalScope).postMessage(await sdlmRate(e.data.seconds, e.data.reps));
};
