/**
 * The same networks in TensorFlow.js on its WebAssembly backend, for the
 * end-to-end comparison (bench/compare.ts).
 *
 * A network is built from an engine model, layer by layer, with the model's
 * own initial weights, so both start from the same function (compare.ts
 * checks that their losses agree). Layouts: TF.js is NHWC, the engine NCHW;
 * with one input channel the input bytes are the same, and flatten
 * transposes back to channel-major so the dense weights need no permutation.
 * A connection table becomes a constant 0/1 mask on a dense kernel.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel (the weight
 * gradient of a convolution), so {@linkcode initTfjsWasm} registers one made
 * of the backend's own Transpose and Conv2D kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { Model } from "../engine/model.ts";
import type { Layer } from "../engine/types.ts";
import { type Conv2dConfig, denseConvWeights } from "../layers/conv2d.ts";
import type { PoolConfig } from "../layers/_pool.ts";
import type { SquashConfig } from "../layers/activations.ts";
import type { MapConfig } from "../losses/map.ts";

/** Loads the WebAssembly backend (SIMD, one thread) from the npm package and registers the missing kernel. */
export async function initTfjsWasm(): Promise<{ simd: boolean; threads: boolean }> {
  // The .wasm files sit next to the package's entry point in Deno's npm cache.
  const wasm = import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0/dist/tfjs-backend-wasm.wasm");
  setWasmPaths(new URL("./", wasm).href);
  if (!(await tf.setBackend("wasm"))) throw new Error("Cannot start the TF.js wasm backend");
  registerConv2dBackpropFilter();
  return { simd: tf.env().getBool("WASM_HAS_SIMD_SUPPORT"), threads: tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") };
}

/**
 * dW[kh, kw, ci, co] = sum over b, oy, ox of x[b, oy + kh, ox + kw, ci] dy[b, oy, ox, co]:
 * a convolution of x transposed to [ci, H, W, b] with dy transposed to the
 * filter [ho, wo, b, co], transposed back. Stride 1, no padding, no dilation.
 */
function registerConv2dBackpropFilter(): void {
  if (tf.getKernel("Conv2DBackpropFilter", "wasm")) return;
  const transpose = tf.getKernel("Transpose", "wasm")!.kernelFunc;
  const conv = tf.getKernel("Conv2D", "wasm")!.kernelFunc;
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as { strides: number | number[]; pad: unknown; dataFormat: string };
      const strides = Array.isArray(a.strides) ? a.strides : [a.strides, a.strides];
      if (strides.some((s) => s !== 1) || (a.pad !== "valid" && a.pad !== 0) || a.dataFormat !== "NHWC") {
        const got = JSON.stringify(a);
        throw new Error(`Conv2DBackpropFilter (wasm, bench): only stride 1, valid padding, NHWC; got ${got}`);
      }
      const run = (f: tf.KernelFunc, inp: tf.NamedTensorInfoMap, at: tf.NamedAttrMap) =>
        f({ inputs: inp, backend, attrs: at }) as tf.TensorInfo;
      const xt = run(transpose, { x }, { perm: [3, 1, 2, 0] });
      const dyt = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const w = run(conv, { x: xt, filter: dyt }, { strides: 1, pad: "valid", dataFormat: "NHWC", dilations: 1 });
      const dw = run(transpose, { x: w }, { perm: [1, 2, 0, 3] });
      for (const t of [xt, dyt, w]) (backend as unknown as { disposeData(id: unknown): void }).disposeData(t.dataId);
      return dw;
    },
  });
}

/** A network in TF.js: one training step (forward, backward, update) and inference. */
export interface TfNet {
  /** One update on n samples; returns the mean loss. */
  trainStep(x: Float32Array, labels: Int32Array, n: number): number;
  /** Scores of n samples. */
  infer(x: Float32Array, n: number): Float32Array;
  /** Mean loss of n samples, without training. */
  loss(x: Float32Array, labels: Int32Array, n: number): number;
  dispose(): void;
}

type Fn = (x: tf.Tensor) => tf.Tensor;

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

/**
 * The network of `model` in TF.js with its current weights, trained with
 * `optimizer`: "adam", or "sgd" (which stands in for SDLM: the same
 * per-parameter work of one multiply-add).
 */
export function tfNetFrom(model: Model, optimizer: { type: "sgd" | "adam"; lr: number }): TfNet {
  const [channels, height, width] = model.inputShape;
  if (channels !== 1) throw new Error("the TF.js bench network takes one input channel");
  const vars: tf.Variable[] = [];
  const keep: tf.Tensor[] = [];
  const variable = (t: tf.Tensor) => {
    const v = tf.variable(t);
    t.dispose();
    vars.push(v);
    return v;
  };
  const constant = (t: tf.Tensor) => {
    keep.push(t);
    return t;
  };
  const steps: Fn[] = model.layers.map((l) => layerFn(l, variable, constant));
  const forward: Fn = (x) => steps.reduce((h, f) => f(h), x);
  const lossOf = lossFn(model, constant);
  const opt = optimizer.type === "adam" ? tf.train.adam(optimizer.lr) : tf.train.sgd(optimizer.lr);
  const input = (x: Float32Array, n: number) => tf.tensor4d(x.subarray(0, n * height * width), [n, height, width, 1]);
  const labelsOf = (labels: Int32Array, n: number) =>
    tf.oneHot(tf.tensor1d(labels.subarray(0, n), "int32"), model.classes);
  return {
    trainStep(x, labels, n) {
      const xs = input(x, n), ys = labelsOf(labels, n);
      const cost = opt.minimize(() => lossOf(forward(xs), ys) as tf.Scalar, true, vars)!;
      const value = cost.dataSync()[0];
      tf.dispose([xs, ys, cost]);
      return value;
    },
    infer(x, n) {
      return tf.tidy(() => forward(input(x, n))).dataSync() as Float32Array;
    },
    loss(x, labels, n) {
      return tf.tidy(() => lossOf(forward(input(x, n)), labelsOf(labels, n)).dataSync()[0]);
    },
    dispose() {
      opt.dispose();
      tf.dispose([...vars, ...keep]);
    },
  };
}

/** One engine layer as a TF.js function on NHWC tensors. */
function layerFn(l: Layer, variable: (t: tf.Tensor) => tf.Variable, constant: (t: tf.Tensor) => tf.Tensor): Fn {
  switch (l.type) {
    case "conv2d": {
      const c = l.config as Conv2dConfig, inMaps = l.inShape[0], k = c.kernel;
      // Engine (maps, inMaps, k, k) to TF.js (k, k, inMaps, maps).
      const hwio = (a: ArrayLike<number>) => tf.transpose(tf.tensor4d(f32(a), [c.maps, inMaps, k, k]), [2, 3, 1, 0]);
      const w = variable(hwio(denseConvWeights(c, inMaps, l.params[0])));
      const b = variable(tf.tensor1d(f32(l.params[1])));
      const mask = c.table
        ? constant(hwio(denseConvWeights(c, inMaps, new Float32Array(l.params[0].length).fill(1))))
        : null;
      const p = c.padding, pad = p === 0 ? "valid" : ([[0, 0], [p, p], [p, p], [0, 0]] as const);
      const kernel = () => (mask ? tf.mul(w, mask) : w) as tf.Tensor4D;
      return (x) => tf.add(tf.conv2d(x as tf.Tensor4D, kernel(), c.stride, pad as "valid"), b);
    }
    case "subsample": {
      const { size, stride } = l.config as PoolConfig;
      const coef = variable(tf.tensor1d(f32(l.params[0]))), bias = variable(tf.tensor1d(f32(l.params[1])));
      // The sum of a window is size^2 times its mean.
      return (x) =>
        tf.add(tf.mul(tf.avgPool(x as tf.Tensor4D, size, stride, "valid"), tf.mul(coef, size * size)), bias);
    }
    case "avgpool":
    case "maxpool": {
      const { size, stride } = l.config as PoolConfig;
      const pool = l.type === "avgpool" ? tf.avgPool : tf.maxPool;
      return (x) => pool(x as tf.Tensor4D, size, stride, "valid");
    }
    case "squash": {
      const { A, S } = l.config as SquashConfig;
      return (x) => tf.mul(tf.tanh(tf.mul(x, S)), A);
    }
    case "tanh":
      return tf.tanh;
    case "relu":
      return tf.relu;
    case "flatten":
      // NHWC back to the engine's channel-major order.
      return (x) => x.rank === 4 ? tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) : x;
    case "full": {
      const units = l.outSize, inputs = l.inSize;
      const w = variable(tf.transpose(tf.tensor2d(f32(l.params[0]), [units, inputs])));
      const b = variable(tf.tensor1d(f32(l.params[1])));
      return (x) =>
        tf.add(tf.matMul(x.rank === 2 ? x as tf.Tensor2D : tf.reshape(x, [x.shape[0], -1]), w as tf.Tensor2D), b);
    }
    case "rbf": {
      const codes = constant(tf.tensor2d(f32(l.params[0]), [l.outSize, l.inSize]));
      // Squared distance to each code: [N, 1, inputs] against [classes, inputs].
      return (x) => tf.sum(tf.square(tf.sub(tf.expandDims(tf.reshape(x, [x.shape[0], -1]), 1), codes)), 2);
    }
    default:
      throw new Error(`the TF.js bench network has no layer "${l.type}"`);
  }
}

/** The model's loss on scores [N, classes] and one-hot labels, as a batch mean. */
function lossFn(model: Model, constant: (t: tf.Tensor) => tf.Tensor): (y: tf.Tensor, onehot: tf.Tensor) => tf.Tensor {
  switch (model.loss.plugin.type) {
    case "map": {
      // E = y_D + log(exp(-j) + sum_i exp(-y_i)) (eq. 9).
      const rubbish = constant(tf.scalar(Math.exp(-(model.loss.config as MapConfig).j)));
      return (y, onehot) =>
        tf.mean(tf.add(tf.sum(tf.mul(y, onehot), 1), tf.log(tf.add(tf.sum(tf.exp(tf.neg(y)), 1), rubbish))));
    }
    case "mse-rbf":
      return (y, onehot) => tf.mean(tf.sum(tf.mul(y, onehot), 1));
    case "softmax-cross-entropy":
      return (y, onehot) => tf.losses.softmaxCrossEntropy(onehot, y);
    default:
      throw new Error(`the TF.js bench network has no loss "${model.loss.plugin.type}"`);
  }
}
