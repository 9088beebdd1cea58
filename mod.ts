/**
 * LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) in TypeScript for Deno: a
 * plugin registry of layers, losses and optimizers, declarative model graphs,
 * and a CPU engine on typed arrays with forward, backward and the diagonal
 * second derivatives of stochastic diagonal Levenberg-Marquardt.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "./mod.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
 * const distances = model.forward(new Float32Array(32 * 32).fill(-0.1), 1);
 * console.log(model.counts().trainable, distances.length); // 60000 10
 * ```
 *
 * @module
 */
export * from "./core.ts";
// The edge: file access.
export { loadModel, MAX_JSON_BYTES, removeStaleTemporaries, saveModel, writeFileAtomic } from "./engine/model_file.ts";
export { readIdxFile } from "./data/idx_file.ts";
export { loadMnist, mnistPackageDir } from "./data/mnist.ts";
export {
  decodePgm,
  decodePng,
  type DecodePngOptions,
  type GreyImages,
  ImageError,
  MAX_PNG_BYTES,
  MAX_PNG_SIDE,
  readImages,
  type ReadImagesOptions,
} from "./data/images.ts";
