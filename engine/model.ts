/**
 * The engine: builds a model from a declarative graph and runs forward,
 * backward and the diagonal second-derivative backward on flat typed arrays.
 *
 * @module
 */
import { ConfigReader, show, showShape, sizeOf } from "./config.ts";
import { INIT_NAMES, INITIALIZERS } from "./init.ts";
import {
  bytesPerSample,
  grouped,
  MAX_ACTIVATIONS,
  MAX_BUFFER_BYTES,
  MAX_DIM,
  MAX_PARAMETERS,
  MAX_RANK,
  MAX_WINDOW,
  maxBatch,
  mib,
} from "./limits.ts";
import { type PrepareStep, readPrepare } from "../data/prepare.ts";
import { PAPER_PREPROCESS } from "../data/preprocess.ts";
import type { Registries } from "./registry.ts";
import {
  jsKernels,
  KERNEL_NAMES,
  type KernelBackend,
  type KernelChoice,
  type LayerCompute,
  layerCompute,
} from "./kernels.ts";
import { createWasmKernels, wasmKernelsProblem } from "./wasm/backend.ts";
import { Rng } from "./rng.ts";
import {
  type Floats,
  GraphError,
  type Labels,
  type Layer,
  type LayerPlugin,
  type LossPlugin,
  type ParamSpec,
  type Shape,
  type VectorKernels,
} from "./types.ts";

/** One layer of a graph: its registered type, an optional name, and its config fields. */
export interface LayerSpec {
  /** Registered layer type, e.g. `"conv2d"`. */
  readonly type: string;
  /** Unique within the graph, e.g. `"C3"`; default the type and the layer's index, e.g. `"conv2d0"`. */
  readonly name?: string;
  /** Init scheme for this layer, overriding the graph's. */
  readonly init?: string;
  /** The layer's config fields, read by its plugin (e.g. `maps` and `kernel` of conv2d). */
  readonly [field: string]: unknown;
}

/** The loss of a graph: its registered type and its config fields. */
export interface LossSpec {
  /** Registered loss type, e.g. `"map"`. */
  readonly type: string;
  /** The loss's config fields (e.g. `j` of the MAP loss). */
  readonly [field: string]: unknown;
}

/** A model as data: JSON-serialisable. */
export interface GraphSpec {
  /** Name shown in summaries; absent: "model". */
  readonly name?: string;
  /** Per-sample input shape, e.g. `[1, 32, 32]`. */
  readonly input: readonly number[];
  /**
   * Pixels of background the paper's preprocessing adds on each side of an image to make the input (data/preprocess.ts):
   * 2 when absent, as LeNet-5 reads a 28x28 digit as 32x32; 0 for a network that reads the 28x28 image as it is.
   */
  readonly pad?: number;
  /**
   * What is done to each image before that preprocessing (data/prepare.ts): e.g. `[{ "type": "deslant", "size": 20 }]`
   * or `[{ "type": "downsample", "size": 16 }]`; none when absent.
   */
  readonly prepare?: readonly PrepareStep[];
  /** Default init scheme (see INIT_NAMES); `"paper"` when absent. */
  readonly init?: string;
  /** The layers, input to output, each fed by the one before. */
  readonly layers: readonly LayerSpec[];
  /** The loss on the last layer's output. */
  readonly loss: LossSpec;
}

/** A built layer with its plugin and its place in the flat buffers. */
export interface BuiltLayer extends Layer {
  /** The registered plugin that runs the layer. */
  readonly plugin: LayerPlugin;
  /** Its parameter tensors as the plugin declared them, in the order of `params`. */
  readonly specs: readonly ParamSpec[];
  /** Gradient views, one per param (empty for fixed params). */
  readonly grads: readonly Floats[];
  /** Second-derivative views, same layout as grads. */
  readonly hess: readonly Floats[];
  /** Init scheme it was built with: its spec's `init`, else the graph's (see INIT_NAMES). */
  readonly initName: string;
  /** Trainable parameters of the layer. */
  readonly trainable: number;
  /** Fixed (non-trainable) parameters of the layer. */
  readonly fixed: number;
  /** Connections for one sample, as the paper counts them (see `LayerPlugin.connections`). */
  readonly connections: number;
}

/** Options for {@linkcode buildModel}. */
export interface BuildOptions {
  /** Where layer and loss types are looked up. */
  readonly registry: Registries;
  /** Seed of the parameter init; default 0. */
  readonly seed?: number;
  /** Float64 runs the same kernels in double precision (for checkers); default float32. */
  readonly dtype?: "float32" | "float64";
  /**
   * Storage to use instead of new arrays, e.g. views of a SharedArrayBuffer
   * that workers share: `params` (every parameter; its values are kept, no
   * init) and `grads` (the trainable ones), of the model's element type.
   */
  readonly storage?: { readonly params?: Floats; readonly grads?: Floats };
  /**
   * Which kernels compute the layers and where the buffers live: `"js"` (the
   * layer plugins' own kernels), `"wasm"` (WebAssembly SIMD kernels for the
   * layers that have them, every buffer in one WebAssembly memory; float32
   * only), `"auto"` (wasm where {@linkcode wasmKernelsProblem} finds no
   * problem and the model is float32 without given storage, else js), or a
   * {@linkcode KernelBackend}. Default: `"auto"`. The backends agree to about
   * 1e-6 relative (float32 sums in a different order); each is deterministic.
   */
  readonly kernels?: KernelChoice;
}

/** Options of a backward pass. */
export interface BackwardOptions {
  /** Multiplies the per-sample loss derivatives; default 1/n (the batch mean). */
  readonly scale?: number;
  /** Another loss to take the derivatives of (a plugin and its checked config); default the model's own. */
  readonly loss?: { readonly plugin: LossPlugin; readonly config: unknown };
}

type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

/** A model built from a graph. Create one with {@linkcode buildModel}. */
export class Model {
  /** The graph the model was built from. */
  readonly graph: GraphSpec;
  /** The built layers, input to output. */
  readonly layers: readonly BuiltLayer[];
  /** The loss plugin and its checked config. */
  readonly loss: { readonly plugin: LossPlugin; readonly config: unknown };
  /** Per-sample input shape (the graph's `input`). */
  readonly inputShape: Shape;
  /** Pixels of background added on each side of an image to make the input (the graph's `pad`, 2 when absent). */
  readonly inputPad: number;
  /** What is done to each image before the padding (the graph's `prepare`; none when absent). */
  readonly prepare: readonly PrepareStep[];
  /** Per-sample shape of the scores, the last layer's output. */
  readonly outputShape: Shape;
  /** Number of classes (size of the last layer's output). */
  readonly classes: number;
  /** All parameters, trainable ones first: `params.subarray(0, trainableCount)`. */
  readonly params: Floats;
  /** Number of trainable parameters: the first `trainableCount` values of `params`. */
  readonly trainableCount: number;
  /** dE/dparam for the trainable parameters, accumulated by `backward`. */
  readonly grads: Floats;
  /** Diagonal second derivatives for the trainable parameters, accumulated by `backward2`. */
  readonly hess: Floats;
  /** Element type of every buffer: float32 (the default) or float64 (for checkers). */
  readonly dtype: "float32" | "float64";
  /** Name of the kernel backend computing the layers (`"js"` or `"wasm"`; see `BuildOptions.kernels`). */
  readonly kernels: string;
  /** The kernel backend's vector kernels for optimizers, if it has them. */
  readonly vectors: VectorKernels | undefined;
  /** The registries it was built with: its plugins, their module URLs and kernels. */
  readonly registry: Registries;

  readonly #F: FloatCtor;
  readonly #backend: KernelBackend;
  /** Each layer's forward, backward and backward2: its plugin's, or those registered for the backend. */
  readonly #compute: LayerCompute[];
  #capacity = 0;
  /** acts[0] is the input; acts[i + 1] the output of layer i. */
  #acts: Floats[] = [];
  #d: Floats[] = [];
  #d2: Floats[] = [];
  #n = 0;

  /** @internal Use buildModel. */
  constructor(
    graph: GraphSpec,
    layers: BuiltLayer[],
    loss: { plugin: LossPlugin; config: unknown },
    buffers: { params: Floats; grads: Floats; hess: Floats; trainableCount: number },
    dtype: "float32" | "float64",
    registry: Registries,
    backend: KernelBackend = jsKernels,
  ) {
    this.graph = graph;
    this.layers = layers;
    this.loss = loss;
    this.inputShape = graph.input.slice();
    this.inputPad = graph.pad ?? PAPER_PREPROCESS.pad;
    this.prepare = readPrepare(graph.prepare);
    this.outputShape = layers.length ? layers[layers.length - 1].outShape : this.inputShape;
    this.classes = sizeOf(this.outputShape);
    this.params = buffers.params;
    this.grads = buffers.grads;
    this.hess = buffers.hess;
    this.trainableCount = buffers.trainableCount;
    this.dtype = dtype;
    this.#F = dtype === "float64" ? Float64Array : Float32Array;
    this.#backend = dtype === "float32" ? backend : jsKernels;
    this.kernels = this.#backend.name;
    this.vectors = this.#backend.vectors;
    this.registry = registry;
    this.#compute = layers.map((l) => layerCompute(l, l.plugin, this.#backend, registry.kernels));
  }

  /** A zeroed buffer of `length` values of the model's type, where its kernels can reach it. */
  #alloc(length: number): Floats {
    return this.#F === Float32Array ? this.#backend.floats(length) : new this.#F(length);
  }

  /** Values in one input sample. */
  get inputSize(): number {
    return sizeOf(this.inputShape);
  }

  /** Makes the activation buffers hold at least `n` samples (kept between calls). */
  #ensure(n: number): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Cannot run model: batch size must be an integer >= 1, got ${n}`);
    }
    if (n <= this.#capacity) return;
    const sizes = [this.inputSize, ...this.layers.map((l) => l.outSize)];
    // Activations, their derivatives and (for backward2) their second derivatives.
    const perSample = bytesPerSample(this);
    if (n * perSample > MAX_BUFFER_BYTES) {
      const need = mib(n * perSample), limit = mib(MAX_BUFFER_BYTES), most = grouped(maxBatch(this));
      throw new RangeError(
        `Cannot run model: a batch of ${n} needs ${need} of activation buffers, over the limit of ${limit} (MAX_BUFFER_BYTES); expected a batch of at most ${most}`,
      );
    }
    this.#acts = sizes.map((s) => this.#alloc(s * n));
    this.#d = sizes.map((s) => this.#alloc(s * n));
    this.#d2 = [];
    this.#capacity = n;
  }

  /**
   * Runs the layers on a batch of `n` samples laid out one after another;
   * returns a view of the scores (n x classes), valid until the next call.
   */
  forward(input: ArrayLike<number>, n: number): Floats {
    this.#ensure(n);
    const need = n * this.inputSize;
    if (input.length < need) {
      throw new RangeError(
        `Cannot run model: input holds ${input.length} values, expected ${need} (${n} x ${showShape(this.inputShape)})`,
      );
    }
    const x0 = this.#acts[0];
    if (input.length === need) x0.set(input);
    else for (let i = 0; i < need; i++) x0[i] = input[i];
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      this.#compute[i].forward(l, this.#acts[i], this.#acts[i + 1], n);
    }
    this.#n = n;
    return this.#acts[this.layers.length].subarray(0, n * this.classes);
  }

  /** Output of layer `i` (or the input for -1) from the last forward pass. */
  activation(i: number): Floats {
    const size = i < 0 ? this.inputSize : this.layers[i].outSize;
    return this.#acts[i + 1].subarray(0, this.#n * size);
  }

  /** Mean loss of the last forward pass. */
  lossValue(labels: Labels): number {
    const n = this.#checkLabels(labels);
    const scores = this.#acts[this.layers.length];
    return this.loss.plugin.forward(this.loss.config, scores, labels, n, this.classes) / n;
  }

  #checkLabels(labels: Labels): number {
    const n = this.#n;
    if (n === 0) throw new Error("Cannot compute the loss: run forward first");
    if (labels.length < n) throw new RangeError(`Cannot compute the loss: ${labels.length} labels for a batch of ${n}`);
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      if (!Number.isInteger(c) || c < 0 || c >= this.classes) {
        throw new RangeError(
          `Cannot compute the loss: label ${i} is ${c}, expected an integer in 0..${this.classes - 1}`,
        );
      }
    }
    return n;
  }

  /**
   * Back-propagates the loss of the last forward pass: accumulates dE/dparam
   * into `grads` (call zeroGrads first for a fresh gradient). Returns the mean loss.
   */
  backward(labels: Labels, options: BackwardOptions = {}): number {
    const n = this.#checkLabels(labels);
    const scale = options.scale ?? 1 / n;
    const L = this.layers.length;
    const scores = this.#acts[L];
    const { plugin, config } = options.loss ?? this.loss;
    const loss = plugin.forward(config, scores, labels, n, this.classes) / n;
    const dTop = this.#d[L];
    dTop.fill(0, 0, n * this.classes);
    plugin.backward(config, scores, labels, n, this.classes, scale, dTop);
    for (let i = L - 1; i >= 0; i--) {
      const l = this.layers[i];
      const dx = i > 0 ? this.#d[i] : null;
      dx?.fill(0, 0, n * l.inSize);
      this.#compute[i].backward(l, this.#acts[i], this.#acts[i + 1], this.#d[i + 1], dx, l.grads, n);
    }
    return loss;
  }

  /**
   * Back-propagates diagonal second derivatives (Gauss-Newton, as in the
   * paper's appendix C) for the last forward and backward pass: accumulates
   * d2E/dparam^2 into `hess`. Call `backward` on the same batch first (with
   * the same `scale`).
   */
  backward2(labels: Labels, options: BackwardOptions = {}): void {
    const n = this.#checkLabels(labels);
    const scale = options.scale ?? 1 / n;
    const L = this.layers.length;
    if (this.#d2.length === 0) {
      this.#d2 = [this.inputSize, ...this.layers.map((l) => l.outSize)].map((s) => this.#alloc(s * this.#capacity));
    }
    const top = this.#d2[L];
    top.fill(0, 0, n * this.classes);
    const { plugin, config } = options.loss ?? this.loss;
    plugin.backward2(config, this.#acts[L], labels, n, this.classes, scale, top);
    for (let i = L - 1; i >= 0; i--) {
      const l = this.layers[i];
      const d2x = i > 0 ? this.#d2[i] : null;
      d2x?.fill(0, 0, n * l.inSize);
      this.#compute[i].backward2(l, this.#acts[i], this.#acts[i + 1], this.#d[i + 1], this.#d2[i + 1], d2x, l.hess, n);
    }
  }

  /** Sets `grads` to zero. */
  zeroGrads(): void {
    this.grads.fill(0);
  }

  /** Sets `hess` to zero. */
  zeroHess(): void {
    this.hess.fill(0);
  }

  /** Class probabilities of the last forward pass (n x classes). */
  probabilities(out?: Floats): Floats {
    const n = this.#n;
    const o = out ?? new this.#F(n * this.classes);
    this.loss.plugin.probabilities(this.loss.config, this.#acts[this.layers.length], n, this.classes, o);
    return o;
  }

  /** Predicted classes of the last forward pass (argmax of the probabilities). */
  predictions(out: Int32Array = new Int32Array(this.#n)): Int32Array {
    return argmaxRows(this.probabilities(), this.#n, this.classes, out);
  }

  /** Trainable and fixed parameter and connection counts. */
  counts(): { trainable: number; fixed: number; connections: number } {
    const sum = (of: (l: BuiltLayer) => number) => this.layers.reduce((total, l) => total + of(l), 0);
    return { trainable: sum((l) => l.trainable), fixed: sum((l) => l.fixed), connections: sum((l) => l.connections) };
  }

  /** Named views of every parameter: `{ "C1.weight": Float32Array, ... }`. */
  namedParams(): Map<string, Floats> {
    const m = new Map<string, Floats>();
    for (const l of this.layers) l.specs.forEach((s, i) => m.set(`${l.name}.${s.name}`, l.params[i]));
    return m;
  }

  /** Re-initialises every parameter from `seed` (same seed, same bits). */
  init(seed: number): void {
    const rng = new Rng(seed);
    for (const l of this.layers) {
      const init = INITIALIZERS[l.initName];
      if (l.plugin.init) {
        l.plugin.init(l, init, rng);
        continue;
      }
      l.specs.forEach((s, i) => {
        if (s.trainable ?? true) init(l.params[i], s, rng);
      });
    }
  }
}

/**
 * A shape as a fresh array of small integers. A shape computed by division
 * (e.g. 28 / 2) holds doubles, and kernels that read shapes of both element
 * kinds lose their optimised code: every shape gets the same kind.
 */
function smallInts(shape: Shape, label: string): number[] {
  if (!shape.every((d) => Number.isInteger(d) && d >= 1 && d < 2 ** 30)) {
    throw new GraphError(`Cannot build ${label}: output shape ${show(shape)} is not a list of positive integers`);
  }
  return shape.map((d) => d | 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** What a value is, for messages: `null`, `a list [1,2]`, `a string "x"`. */
function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  const kind = Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `a ${typeof v}`;
  return `${kind} ${show(v)}`;
}

/** The graph's input shape, checked entry by entry against MAX_RANK, MAX_DIM and MAX_ACTIVATIONS. */
function checkInput(input: unknown): number[] {
  const problem = (text: string) => new GraphError(`Cannot build graph: field "input" ${text}`);
  if (!Array.isArray(input) || input.length === 0) {
    throw problem(
      `must be a non-empty list of positive integers (the per-sample shape, e.g. [1, 32, 32]), got ${show(input)}`,
    );
  }
  if (input.length > MAX_RANK) {
    throw problem(`must have at most ${MAX_RANK} dimensions (MAX_RANK), got ${input.length}`);
  }
  input.forEach((d, i) => {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 1 || d > MAX_DIM) {
      throw problem(`entry ${i} must be an integer in 1..${MAX_DIM} (MAX_DIM), got ${show(d)}`);
    }
  });
  if (sizeOf(input) > MAX_ACTIVATIONS) {
    const shape = showShape(input), values = grouped(sizeOf(input)), limit = grouped(MAX_ACTIVATIONS);
    throw problem(`${shape} holds ${values} values per sample, over the limit of ${limit} (MAX_ACTIVATIONS)`);
  }
  return input;
}

/**
 * Builds a model from a graph: validates every layer against the registry,
 * infers every shape, lays the parameters out in one flat buffer and
 * initialises them from the seed.
 *
 * Sizes are limited (engine/limits.ts), and checked before anything is
 * allocated, so an oversized graph fails at once with a {@linkcode GraphError}
 * that names the field or the totals and the limit:
 * - the input: at most `MAX_RANK` (8) dimensions of 1..`MAX_DIM` (65,536);
 * - per field: conv2d `maps` up to `MAX_MAPS` (16,384), full `units` and rbf
 *   `codes` up to `MAX_UNITS` (65,536), kernels, pooling windows, strides and
 *   padding up to `MAX_WINDOW` (1,024), and a conv2d's input maps x output
 *   maps up to `MAX_MAP_PAIRS` (4,194,304);
 * - per model, checked layer by layer: at most `MAX_PARAMETERS` (50,000,000)
 *   parameters, and `MAX_ACTIVATIONS` (16,777,216) values per sample over the
 *   input and every layer's output;
 * - the buffers built (parameters, gradients, second derivatives, and one
 *   sample's activations with their two derivatives) within
 *   `MAX_BUFFER_BYTES` (1 GiB); `forward` holds a batch's activation buffers
 *   to the same limit.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry } from "../mod.ts";
 * const model = buildModel({
 *   input: [4],
 *   layers: [{ type: "full", units: 3 }, { type: "tanh" }],
 *   loss: { type: "softmax-cross-entropy" },
 * }, { registry: defaultRegistry, seed: 1 });
 * const scores = model.forward(new Float32Array(4).fill(1), 1);
 * if (scores.length !== 3) throw new Error("expected 3 scores");
 * ```
 */
export function buildModel(graph: GraphSpec, options: BuildOptions): Model {
  const { registry } = options;
  if (!isRecord(graph)) {
    throw new GraphError(
      `Cannot build graph: expected an object with fields "input", "layers" and "loss", got ${describe(graph)}`,
    );
  }
  const top = new ConfigReader(graph as Record<string, unknown>, { label: "graph" }, []);
  const gname = top.raw("name");
  if (gname !== undefined && typeof gname !== "string") {
    throw new GraphError(`Cannot build graph: field "name" must be a string, got ${show(gname)}`);
  }
  const input = checkInput(top.raw("input"));
  const pad = top.raw("pad");
  if (pad !== undefined && (typeof pad !== "number" || !Number.isInteger(pad) || pad < 0 || pad > MAX_WINDOW)) {
    throw new GraphError(
      `Cannot build graph: field "pad" must be an integer in 0..${MAX_WINDOW} (MAX_WINDOW; the pixels added on each ` +
        `side of an image), got ${show(pad)}`,
    );
  }
  const initDefault = top.raw("init") ?? "paper";
  if (typeof initDefault !== "string" || !INIT_NAMES.includes(initDefault)) {
    throw new GraphError(
      `Cannot build graph: field "init" must be one of ${INIT_NAMES.join(", ")}, got ${show(initDefault)}`,
    );
  }
  try {
    readPrepare(top.raw("prepare"));
  } catch (e) {
    throw new GraphError(`Cannot build graph: ${(e as Error).message}`);
  }
  const layerSpecs = top.raw("layers");
  if (!Array.isArray(layerSpecs) || layerSpecs.length === 0) {
    throw new GraphError(`Cannot build graph: field "layers" must list at least one layer, got ${show(layerSpecs)}`);
  }
  const lossSpec = top.raw("loss");
  if (!isRecord(lossSpec)) {
    throw new GraphError(
      `Cannot build graph: field "loss" must be an object such as { "type": "map" }, got ${show(lossSpec)}`,
    );
  }
  top.done();

  // Pass 1: configure each layer, infer shapes, collect parameter specs.
  type Pending = Omit<BuiltLayer, "inSize" | "outSize" | "params" | "grads" | "hess" | "trainable" | "fixed">;
  const pending: Pending[] = [];
  const names = new Set<string>();
  let shape: Shape = smallInts(input, "graph");
  // Running totals, checked after each layer so that no later layer is configured on an oversized model.
  let paramTotal = 0, valueTotal = sizeOf(shape);
  layerSpecs.forEach((raw: unknown, index: number) => {
    if (!isRecord(raw)) {
      throw new GraphError(`Cannot build layer ${index}: expected an object with a "type", got ${show(raw)}`);
    }
    const name = raw.name ?? `${raw.type}${index}`;
    if (typeof name !== "string" || name === "") {
      throw new GraphError(
        `Cannot build layer ${index}: field "name" must be a non-empty string, got ${show(raw.name)}`,
      );
    }
    if (names.has(name)) {
      throw new GraphError(`Cannot build layer ${index}: name "${name}" is used by an earlier layer`);
    }
    names.add(name);
    const plugin = registry.layers.get(raw.type, `layer "${name}"`);
    const where = { label: `layer "${name}" (${plugin.type})` };
    const initName = raw.init ?? initDefault;
    if (typeof initName !== "string" || !INIT_NAMES.includes(initName)) {
      throw new GraphError(
        `Cannot build ${where.label}: field "init" must be one of ${INIT_NAMES.join(", ")}, got ${show(raw.init)}`,
      );
    }
    const { init: _init, ...rest } = raw;
    const config = plugin.configure(rest, shape, where);
    const outShape = smallInts(plugin.outputShape(config, shape), where.label);
    valueTotal += sizeOf(outShape);
    if (valueTotal > MAX_ACTIVATIONS) {
      const out = showShape(outShape), values = grouped(valueTotal), limit = grouped(MAX_ACTIVATIONS);
      throw new GraphError(
        `Cannot build ${where.label}: its output ${out} brings the values per sample (input and outputs) to ${values}, over the limit of ${limit} (MAX_ACTIVATIONS)`,
      );
    }
    const specs = plugin.params(config, shape);
    const count = specs.reduce((sum, p) => sum + sizeOf(p.shape), 0);
    paramTotal += count;
    if (paramTotal > MAX_PARAMETERS) {
      const own = grouped(count), all = grouped(paramTotal), limit = grouped(MAX_PARAMETERS);
      throw new GraphError(
        `Cannot build ${where.label}: its ${own} parameters bring the model's parameters to ${all}, over the limit of ${limit} (MAX_PARAMETERS)`,
      );
    }
    const connections = plugin.connections(config, shape);
    pending.push({ name, type: plugin.type, plugin, config, inShape: shape, outShape, specs, initName, connections });
    shape = outShape;
  });

  const lossPlugin = registry.losses.get(lossSpec.type, "the graph's loss");
  const lossConfig = lossPlugin.configure(lossSpec, shape, { label: `loss (${lossPlugin.type})` });

  // Pass 2: one flat buffer, trainable parameters first, then fixed ones.
  const F: FloatCtor = options.dtype === "float64" ? Float64Array : Float32Array;
  let trainableCount = 0, total = 0;
  for (const p of pending) {
    for (const s of p.specs) {
      const size = sizeOf(s.shape);
      if (s.trainable ?? true) trainableCount += size;
      total += size;
    }
  }
  // Parameters, gradients and second derivatives, plus one sample's activations and their two derivatives.
  const bytes = (total + 2 * trainableCount + 3 * valueTotal) * F.BYTES_PER_ELEMENT;
  if (bytes > MAX_BUFFER_BYTES) {
    const all = grouped(total), trainable = grouped(trainableCount), values = grouped(valueTotal);
    const dtype = options.dtype ?? "float32", need = mib(bytes), limit = mib(MAX_BUFFER_BYTES);
    throw new GraphError(
      `Cannot build graph: its buffers (${all} parameters, ${trainable} of them trainable, and ${values} values per sample, in ${dtype}) take ${need}, over the limit of ${limit} (MAX_BUFFER_BYTES)`,
    );
  }
  const given = options.storage ?? {};
  const backend = chooseKernels(options);
  const fresh = (size: number): Floats => F === Float32Array ? backend.floats(size) : new F(size);
  const storage = (a: Floats | undefined, size: number, what: string): Floats => {
    if (a === undefined) return fresh(size);
    if (!(a instanceof F) || a.length !== size) {
      throw new RangeError(`Cannot build graph: storage.${what} must be a ${F.name} of ${size} values`);
    }
    return a;
  };
  const params = storage(given.params, total, "params");
  const grads = storage(given.grads, trainableCount, "grads");
  const hess = fresh(trainableCount);
  let tOff = 0, fOff = trainableCount;
  const layers: BuiltLayer[] = pending.map((p) => {
    const pv: Floats[] = [], gv: Floats[] = [], hv: Floats[] = [];
    let trainable = 0, fixed = 0;
    for (const s of p.specs) {
      const size = sizeOf(s.shape);
      if (s.trainable ?? true) {
        pv.push(params.subarray(tOff, tOff + size));
        gv.push(grads.subarray(tOff, tOff + size));
        hv.push(hess.subarray(tOff, tOff + size));
        tOff += size;
        trainable += size;
      } else {
        pv.push(params.subarray(fOff, fOff + size));
        gv.push(new F(0));
        hv.push(new F(0));
        fOff += size;
        fixed += size;
      }
    }
    const sizes = { inSize: sizeOf(p.inShape), outSize: sizeOf(p.outShape) };
    return { ...p, ...sizes, params: pv, grads: gv, hess: hv, trainable, fixed };
  });
  const model = new Model(
    graph,
    layers,
    { plugin: lossPlugin, config: lossConfig },
    { params, grads, hess, trainableCount },
    options.dtype ?? "float32",
    registry,
    backend,
  );
  if (given.params === undefined) model.init(options.seed ?? 0);
  return model;
}

/** The kernel backend `options.kernels` asks for (see `BuildOptions.kernels`). */
function chooseKernels(options: BuildOptions): KernelBackend {
  const choice = options.kernels ?? "auto";
  if (typeof choice === "object") return choice;
  const float64 = options.dtype === "float64";
  if (choice === "js") return jsKernels;
  if (choice === "auto") {
    return float64 || options.storage !== undefined || wasmKernelsProblem() !== null ? jsKernels : createWasmKernels();
  }
  if (choice === "wasm") {
    if (float64) throw new GraphError('Cannot build graph with kernels "wasm": the wasm kernels are float32 only');
    return createWasmKernels();
  }
  throw new GraphError(
    `Cannot build graph: option kernels must be one of ${KERNEL_NAMES.join(", ")}, got ${show(choice)}`,
  );
}

/** The index of the largest of each row of `k` values (the first one on ties), for `n` rows. */
export function argmaxRows(values: ArrayLike<number>, n: number, k: number, out: Int32Array): Int32Array {
  for (let s = 0; s < n; s++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (values[s * k + c] > values[s * k + best]) best = c;
    out[s] = best;
  }
  return out;
}
