/**
 * The plugin contracts: what a layer, a loss and an optimizer declare.
 *
 * A plugin is a plain object keyed by its `type`. Kernels are plain functions
 * over flat typed arrays laid out sample after sample, channel-major:
 * an input of shape [C, H, W] for a batch of N is an (N, C, H, W) array.
 *
 * @module
 */

/** Float storage the kernels run on: Float32Array in the engine, Float64Array in checkers. */
export type Floats = Float32Array | Float64Array;

/** Class labels for a batch, one integer per sample. */
export type Labels = ArrayLike<number>;

/** A per-sample shape, without the batch dimension, e.g. `[6, 28, 28]`. */
export type Shape = readonly number[];

/** Raw configuration as it appears in a graph: JSON data. */
export type RawConfig = Readonly<Record<string, unknown>>;

/** Which unit an initializer fills: a slice of one parameter. */
export interface InitUnit {
  /** Connections into one unit the parameter feeds (the F_i of the paper's init). */
  readonly fanIn: number;
  /** Connections out of one input unit (used by Glorot-style init). */
  readonly fanOut: number;
  /** `"weight"` or `"bias"`: modern init schemes zero biases. */
  readonly role: "weight" | "bias";
}

/** One parameter tensor of a layer: the unit its initializer fills, its name and shape. */
export interface ParamSpec extends InitUnit {
  /** Name within the layer, e.g. `"weight"`, `"bias"`. */
  readonly name: string;
  /** Shape of the tensor (its size is the product). */
  readonly shape: readonly number[];
  /** Fixed parameters are stored but never updated (e.g. the RBF codes). Default true. */
  readonly trainable?: boolean;
}

/** Source of uniform random numbers in [0, 1). */
export interface RandomSource {
  /** The next number, uniform in [0, 1). */
  next(): number;
}

/** Fills `out` for units with the given fan-in and fan-out. */
export type Initializer = (out: Floats, unit: InitUnit, rng: RandomSource) => void;

/** A layer as built in a model: config checked, shapes known, parameter views bound. */
export interface Layer<C = unknown> {
  /** Its name in the graph, e.g. `"C3"` (by default the type and the layer's index, e.g. `"conv2d0"`). */
  readonly name: string;
  /** Registered type of its plugin, e.g. `"conv2d"`. */
  readonly type: string;
  /** The config as the plugin's `configure` checked and returned it. */
  readonly config: C;
  /** Per-sample input shape, e.g. `[1, 32, 32]`. */
  readonly inShape: Shape;
  /** Per-sample output shape, e.g. `[6, 28, 28]`. */
  readonly outShape: Shape;
  /** Product of `inShape`. */
  readonly inSize: number;
  /** Product of `outShape`. */
  readonly outSize: number;
  /** Parameter views, in the order of the plugin's `params()`. */
  readonly params: readonly Floats[];
}

/** An ONNX attribute value in a lowering: exactly one of an int, ints, a float, floats or a string. */
export type OnnxAttribute =
  | { readonly int: number }
  | { readonly ints: readonly number[] }
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly string: string };

/**
 * What a layer's lowering builds with: initializers and nodes of the default
 * ONNX domain at the export's opset (17), named after the layer (see export/onnx.ts).
 */
export interface OnnxLowering {
  /** Adds a float32 initializer `LAYER.name`; returns its name. */
  floats(name: string, dims: readonly number[], values: ArrayLike<number>): string;
  /** Adds an int64 initializer `LAYER.name` (axes, pads, shapes); returns its name. */
  ints(name: string, dims: readonly number[], values: readonly number[]): string;
  /** Adds a node running standard op `op` on `inputs`; returns the name of its one output. */
  node(op: string, inputs: readonly string[], attributes?: Readonly<Record<string, OnnxAttribute>>): string;
}

/**
 * A layer type. One object declares everything about it: configuration, shapes,
 * parameters, init, forward, backward and the diagonal second-derivative backward.
 *
 * Conventions:
 * - `forward` writes `y` (N x outSize) from `x` (N x inSize).
 * - `backward` accumulates (`+=`) dE/dx into `dx` (null for the first layer)
 *   and dE/dparam into `grads` (same layout as `params`; fixed parameters get an
 *   empty array).
 * - `backward2` accumulates the diagonal Gauss-Newton second derivatives
 *   d2E/dx^2 into `d2x` and d2E/dparam^2 into `hess`, from d2E/dy^2 in `d2y`
 *   (and dE/dy in `dy`, which only a layer with `exactCurvature` uses).
 */
export interface LayerPlugin<C = unknown> {
  /** Registered name, e.g. `"conv2d"`. */
  readonly type: string;
  /** One line for help texts and summaries. */
  readonly description: string;
  /**
   * True when `backward2` also adds the layer's own second-derivative term sum_i dE/dy_i * d2y_i/dx^2 (the RBF layer: a
   * sum of squares, whose curvature is exact). Gauss-Newton layers drop that term.
   */
  readonly exactCurvature?: boolean;
  /** Checks the raw config against the input shape; throws a {@linkcode GraphError} naming the field. */
  configure(raw: RawConfig, input: Shape, where: ConfigWhere): C;
  /** Per-sample output shape for a checked config and an input shape. */
  outputShape(config: C, input: Shape): Shape;
  /** The layer's parameter tensors, in the order `Layer.params` holds them; empty for none. */
  params(config: C, input: Shape): ParamSpec[];
  /** Connections (multiply-adds including the bias) for one sample, as the paper counts them. */
  connections(config: C, input: Shape): number;
  /** Optional custom init; the default fills every trainable parameter with `init` per its ParamSpec. */
  init?(layer: Layer<C>, init: Initializer, rng: RandomSource): void;
  /** Writes the outputs `y` (n x outSize) of the `n` samples in `x` (n x inSize). */
  forward(layer: Layer<C>, x: Floats, y: Floats, n: number): void;
  /** Accumulates dE/dx into `dx` and dE/dparam into `grads` from dE/dy in `dy` (see the conventions). */
  backward(
    layer: Layer<C>,
    x: Floats,
    y: Floats,
    dy: Floats,
    dx: Floats | null,
    grads: readonly Floats[],
    n: number,
  ): void;
  /** Accumulates d2E/dx^2 into `d2x` and d2E/dparam^2 into `hess` from d2E/dy^2 in `d2y` (Gauss-Newton). */
  backward2(
    layer: Layer<C>,
    x: Floats,
    y: Floats,
    dy: Floats,
    d2y: Floats,
    d2x: Floats | null,
    hess: readonly Floats[],
    n: number,
  ): void;
  /**
   * Optional: the layer as standard ONNX ops, for export. Gets the name of the input tensor, shaped [N, ...inShape],
   * and returns the name of a tensor shaped [N, ...outShape] that equals what `forward` computes.
   */
  lower?(layer: Layer<C>, input: string, onnx: OnnxLowering): string;
}

/**
 * A loss over the scores of the last layer. `backward` and `backward2` accumulate `scale` times the derivatives of the
 * per-sample losses (the model passes `scale = 1/N` for a batch mean).
 */
export interface LossPlugin<C = unknown> {
  /** Registered name, e.g. `"map"`. */
  readonly type: string;
  /** One line for help texts and summaries. */
  readonly description: string;
  /** Checks the raw config against the shape of the scores; throws a {@linkcode GraphError} naming the field. */
  configure(raw: RawConfig, scores: Shape, where: ConfigWhere): C;
  /** Sum over the batch of the per-sample losses. */
  forward(config: C, scores: Floats, labels: Labels, n: number, classes: number): number;
  /** Accumulates `scale` times dE/dscores of each sample into `dScores` (n x classes). */
  backward(config: C, scores: Floats, labels: Labels, n: number, classes: number, scale: number, dScores: Floats): void;
  /** Diagonal of the Hessian of the loss with respect to the scores (non-negative). */
  backward2(
    config: C,
    scores: Floats,
    labels: Labels,
    n: number,
    classes: number,
    scale: number,
    d2Scores: Floats,
  ): void;
  /** Class probabilities from the scores; the prediction is their argmax. */
  probabilities(config: C, scores: Floats, n: number, classes: number, out: Floats): void;
}

/** Optimizer state: named arrays and numbers, saved with a run. */
export type OptimizerState = Record<string, Float32Array | number>;

/** What one optimizer step sees. */
export interface StepInput {
  /** Trainable parameters, flat. */
  readonly params: Floats;
  /** Gradient of the loss, same layout. */
  readonly grads: Floats;
  /** Curvature estimate (diagonal second derivatives), when the optimizer asked for it. */
  readonly hess: Floats | null;
  /** The global learning rate for this step (eta). */
  readonly lr: number;
  /** Vector kernels of the model's kernel backend, when it has them (the wasm backend). */
  readonly vectors?: VectorKernels;
  /** What the rule derived for its steps (see {@linkcode OptimizerWork}). */
  readonly work: OptimizerWork;
}

/** Kernels over parameter-sized vectors that a backend may offer optimizers (see `StepInput.vectors`). */
export interface VectorKernels {
  /** A zeroed buffer of `length` float64 values, where these kernels reach it. */
  doubles(length: number): Float64Array;
  /**
   * params[k] -= steps[k] * grads[k] for every k, computed in float64 and rounded once (bit-identical to that JS loop).
   * Returns false, having done nothing, when an array is not one these kernels reach.
   */
  scaledStep(params: Floats, steps: Float64Array, grads: Floats): boolean;
}

/**
 * What a rule derives from its config, state and eta for its steps, kept
 * between steps and never saved (SDLM's per-parameter step sizes).
 */
export type OptimizerWork = Record<string, unknown>;

/** A loss whose curvature h_kk is taken from: a plugin and its checked config. */
export interface CurvatureLoss {
  /** The loss plugin. */
  readonly plugin: LossPlugin;
  /** Its checked config for the model's scores. */
  readonly config: unknown;
}

/** The model's curvature as a rule's hooks see it (see `OptimizerPlugin.beforePass`). */
export interface CurvatureAccess {
  /** h_kk of the trainable parameters, which the estimates below write. */
  readonly hess: Floats;
  /** Vector kernels of the model's kernel backend, when it has them. */
  readonly vectors?: VectorKernels;
  /** What the rule derived for its steps (see {@linkcode OptimizerWork}). */
  readonly work: OptimizerWork;
}

/** What `beforePass` sees: the pass, its eta, and how to estimate h_kk on a sample of the pass's patterns. */
export interface PassHookInput extends CurvatureAccess {
  /** The pass about to run, 1-based. */
  readonly pass: number;
  /** Its global learning rate (eta). */
  readonly lr: number;
  /**
   * Sets `hess` to the mean h_kk over `count` training patterns drawn at random for this pass (fewer when the pass has
   * fewer), taking the curvature of `loss` (default the model's own loss).
   */
  estimateOnSample(count: number, loss?: CurvatureLoss): Floats;
}

/** What `afterStep` sees: the update just made and how to estimate h_kk on its batch. */
export interface StepHookInput extends CurvatureAccess {
  /** Updates made so far in the run, this one included. */
  readonly step: number;
  /** The update's global learning rate (eta). */
  readonly lr: number;
  /** Sets `hess` to the mean h_kk over the batch just trained on, with the weights after its update. */
  estimateOnBatch(loss?: CurvatureLoss): Floats;
}

/** What a rule's `beforePass` reports for the pass's record. */
export interface PassNotes {
  /** Smallest and largest per-parameter step of the pass (SDLM: eta / (mu + h_kk)). */
  readonly stepRange?: readonly [number, number];
}

/** What values a setting takes: in words for messages, and as a test. */
export interface Rule {
  /** The values, as the end of "must be ...": "an integer >= 1". */
  readonly expected: string;
  /** Whether `value` is one of them. */
  ok(value: unknown): boolean;
}

/**
 * A setting of a training run that an update rule owns (SDLM's curvature samples, say): a field of the rule's raw
 * config and of a run's settings, the flag of `deno task train` that gives it, and what it takes.
 */
export interface OptimizerOption {
  /** Field in the rule's raw config and in a run's settings, e.g. `"curvatureSamples"`. */
  readonly key: string;
  /** Flag of `deno task train` without the dashes, e.g. `"curvature-samples"`. */
  readonly flag: string;
  /** The flag's value in the help text, e.g. `"N"`. */
  readonly arg: string;
  /** What the flag does, for the help text. */
  readonly help: string;
  /** What it takes; `"loss"`: the type of a registered loss. */
  readonly rule: Rule | "loss";
  /** Its value when the config gives none. */
  readonly fallback?: number;
  /** Every run's settings hold it (`fallback` when neither the flag nor the preset gives one). */
  readonly always?: boolean;
}

/** How a configured rule describes itself in a run's recipe and settings table. */
export interface OptimizerDescription {
  /** The rule and its main setting, e.g. `"sdlm (mu 0.1)"`. */
  readonly name: string;
  /** What follows the schedule and batch in the recipe line, e.g. `", h_kk from 500 patterns before each pass"`. */
  readonly recipe: string;
  /** Rows (name, value) of the run's settings table. */
  readonly rows: readonly (readonly [string, string])[];
}

/** What `configure` may need beyond the raw config: the losses registered and the model's scores. */
export interface OptimizerContext {
  /** Registered loss types (SDLM's `curvatureLoss` names one). */
  readonly losses: { get(type: string): LossPlugin };
  /** Per-sample shape of the model's scores. */
  readonly scores: Shape;
}

/** What values a rule's saved state takes, by key, beyond being a finite number. */
export type StateRules = Readonly<Record<string, Rule>>;

/**
 * An update rule. `fit` calls its hooks around the passes and updates; the rule keeps what must survive a resume in
 * `state` and what it derives in `work` (given with each hook's and step's input).
 */
export interface OptimizerPlugin<C = unknown> {
  /** Registered name, e.g. `"sdlm"`. */
  readonly type: string;
  /** One line for help texts and summaries. */
  readonly description: string;
  /** True when the rule needs `hess` (which its own `beforePass` estimates). */
  readonly needsCurvature: boolean;
  /** The run settings the rule owns, each with its flag (absent: none). */
  readonly options?: readonly OptimizerOption[];
  /** Values its saved state may hold, by key (others: any finite number); a key `createState` leaves out may be absent. */
  readonly stateRules?: StateRules;
  /** Checks the raw config and fills in defaults; throws a {@linkcode GraphError} naming the field. */
  configure(raw: RawConfig, where: ConfigWhere, context?: OptimizerContext): C;
  /** The learning rate the config asks for, used when no schedule overrides it. */
  learningRate(config: C): number;
  /** Fresh state for `size` trainable parameters (e.g. Adam's moments); `{}` when the rule keeps none. */
  createState(config: C, size: number): OptimizerState;
  /** The rule's recipe text and settings rows. */
  describe?(config: C): OptimizerDescription;
  /** Before each pass of `fit` (SDLM estimates h_kk and its step sizes for the pass's eta). */
  beforePass?(config: C, state: OptimizerState, input: PassHookInput): PassNotes;
  /** After each update of `fit` (SDLM's running h_kk). */
  afterStep?(config: C, state: OptimizerState, input: StepHookInput): void;
  /** After each pass's last update of `fit`. */
  afterPass?(config: C, state: OptimizerState, input: CurvatureAccess): void;
  /** Updates `input.params` in place from the gradients (and curvature), keeping what it needs in `state` and `input.work`. */
  step(config: C, state: OptimizerState, input: StepInput): void;
}

/** Where a config sits, for error messages: `layer "C3" (conv2d)`. */
export interface ConfigWhere {
  /** e.g. `layer "C3" (conv2d)` or `loss (map)`. */
  readonly label: string;
}

/** An invalid graph, config or option. The message names the place, the field and what was expected. */
export class GraphError extends TypeError {
  /** `"GraphError"`: the name stack traces and `String(error)` show. */
  override name = "GraphError";
}
