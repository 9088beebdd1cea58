/**
 * ONNX export: a model as a graph of standard ops in the default domain,
 * opset {@linkcode ONNX_OPSET}, every parameter an initializer.
 *
 * Each layer plugin lowers itself (`LayerPlugin.lower`); the loss only says
 * how scores become class probabilities ({@linkcode PROBABILITY_LOWERINGS}).
 * The graph reads `input` [N, ...input shape] (or, with `rawInput`, `image`
 * [N, rows, cols] grey levels 0..255, preprocessed in the graph) and writes
 * `scores`, `probabilities` and `class`, with a dynamic batch N.
 *
 * @module
 */
import type { Model } from "../engine/model.ts";
import { GraphError, type OnnxAttribute, type OnnxLowering } from "../engine/types.ts";
import { PAPER_PREPROCESS, type PreprocessOptions } from "../data/preprocess.ts";
import { lowerPrepare } from "./prepare.ts";
import {
  DataType,
  encodeModel,
  makeGraph,
  makeModel,
  makeNode,
  makeTensor,
  makeValueInfo,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./proto.ts";

/** The ONNX operator set the graphs import. */
export const ONNX_OPSET = 17;
/** The ONNX IR version written: 8, that of ONNX 1.12, which brought opset 17. */
export const ONNX_IR_VERSION = 8;
/** The symbolic batch dimension of the graph inputs and outputs. */
export const BATCH_DIM = "N";

/** How a loss turns the scores [N, classes] into class probabilities, as ONNX ops. */
export interface ProbabilityLowering {
  /** What the scores are, for the output's doc string. */
  readonly scores: string;
  /** Returns the name of the probabilities tensor [N, classes]. */
  lower(config: unknown, scores: string, onnx: OnnxLowering): string;
}

/** The RBF losses' probabilities: softmax(-y) over the classes, y the distances. */
const RBF_PROBABILITIES: ProbabilityLowering = {
  scores: "squared Euclidean distances to the class codes (smaller is closer)",
  lower: (_c, y, onnx) => onnx.node("Softmax", [onnx.node("Neg", [y])], { axis: { int: 1 } }),
};

/**
 * Probability lowerings by loss type; each matches its loss plugin's
 * `probabilities`. Add one here for a loss of your own.
 */
export const PROBABILITY_LOWERINGS: Map<string, ProbabilityLowering> = new Map([
  ["map", RBF_PROBABILITIES],
  ["mse-rbf", RBF_PROBABILITIES],
  ["softmax-cross-entropy", {
    scores: "logits",
    lower: (_c: unknown, z: string, onnx: OnnxLowering) => onnx.node("Softmax", [z], { axis: { int: 1 } }),
  }],
]);

/** Side of the raw image an export reads when its graph prepares the image (data/prepare.ts): MNIST's 28. */
export const PREPARED_IMAGE_SIDE = 28;

/** Options of {@linkcode exportOnnx}. */
export interface ExportOptions {
  /**
   * Put the preprocessing in the graph: it then reads `image`, raw grey levels
   * 0..255 [N, rows, cols] (uint8 or float32), 0 the background. Default: no
   * preprocessing, it reads `input` as the engine does.
   */
  readonly rawInput?: "uint8" | "float32";
  /**
   * The preprocessing put in the graph with `rawInput`; default the paper's, as data/preprocess.ts, with the model's
   * `inputPad`.
   */
  readonly preprocess?: PreprocessOptions;
  /**
   * Add the `probabilities` and `class` outputs (default true). False writes
   * the scores alone, for a model whose output is not a vector of classes.
   */
  readonly classify?: boolean;
  /**
   * More nets whose scores are added to the model's (boosting): each reads the same input as the model (same shape,
   * padding and preparation) and gives scores of the same shape; the probabilities and class come from the sum, by
   * the model's loss. Their layers are named `netI.LAYER` (I = 2, 3, ...).
   */
  readonly ensemble?: readonly Model[];
  /**
   * Also output each layer's activations but the last, named `layer.NAME`
   * (e.g. `layer.C1` [N, 6, 28, 28]), for pictures of what the network sees
   * (default false: the outputs above only).
   */
  readonly intermediates?: boolean;
}

/** The name of a layer's activations in an export with `intermediates`. */
export const intermediateName = (layer: string): string => `layer.${layer}`;

/** Nodes and initializers, with unique names scoped by layer. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly #names = new Set<string>();

  constructor(reserved: readonly string[]) {
    for (const r of reserved) this.#names.add(r);
  }

  #unique(base: string): string {
    let name = base;
    for (let k = 2; this.#names.has(name); k++) name = `${base}_${k}`;
    this.#names.add(name);
    return name;
  }

  /** A lowering context: initializers `scope.name`, nodes and their outputs `scope/Op`. */
  scoped(scope: string): OnnxLowering {
    const tensor = (name: string, type: number, dims: readonly number[], values: ArrayLike<number>) => {
      const t = makeTensor(this.#unique(`${scope}.${name}`), type, dims, values);
      this.initializers.push(t);
      return t.name;
    };
    return {
      floats: (name, dims, values) => tensor(name, DataType.FLOAT, dims, values),
      ints: (name, dims, values) => tensor(name, DataType.INT64, dims, values),
      node: (op: string, inputs: readonly string[], attributes?: Readonly<Record<string, OnnxAttribute>>) => {
        const name = this.#unique(`${scope}/${op}`);
        this.nodes.push(makeNode(op, inputs, [name], { name, attributes }));
        return name;
      },
    };
  }

  /** Makes `value` available as `name`: renames the node output that is not used yet, or adds an Identity. */
  output(value: string, name: string): void {
    const node = this.nodes.findIndex((n) => n.outputs.includes(value));
    const used = this.nodes.some((n) => n.inputs.includes(value));
    if (node < 0 || used) {
      this.nodes.push(makeNode("Identity", [value], [name], { name: `${name}/Identity` }));
      return;
    }
    const n = this.nodes[node];
    this.nodes[node] = { ...n, outputs: n.outputs.map((o) => (o === value ? name : o)) };
  }
}

function exportError(model: Model, problem: string): never {
  throw new GraphError(`Cannot export ${model.graph.name ?? "the model"} to ONNX: ${problem}`);
}

/** Adds the paper's preprocessing on `image`; returns the name of the preprocessed [N, 1, H, W] tensor. */
function lowerPreprocess(model: Model, b: GraphBuilder, type: "uint8" | "float32", options: PreprocessOptions) {
  const pad = options.pad ?? model.inputPad;
  const bg = options.background ?? PAPER_PREPROCESS.background, ink = options.ink ?? PAPER_PREPROCESS.ink;
  const [maps, h, w] = model.inputShape;
  if (model.inputShape.length !== 3 || maps !== 1 || h <= 2 * pad || w <= 2 * pad) {
    const shape = model.inputShape.join(", ");
    exportError(
      model,
      `a raw-image input needs a model input of one grey-level map [1, H, W] larger than the padding ${pad} on each side, got [${shape}]`,
    );
  }
  // A graph that prepares its images reads MNIST's 28x28; otherwise the image is the input without its padding.
  const [rows, cols] = model.prepare.length ? [PREPARED_IMAGE_SIDE, PREPARED_IMAGE_SIDE] : [h - 2 * pad, w - 2 * pad];
  const input = makeValueInfo(
    "image",
    type === "uint8" ? DataType.UINT8 : DataType.FLOAT,
    [BATCH_DIM, rows, cols],
    `raw grey levels 0..255, 0 = background, ${rows}x${cols}`,
  );
  const pre = b.scoped("preprocess");
  let x = type === "uint8" ? pre.node("Cast", ["image"], { to: { int: DataType.FLOAT } }) : "image";
  const prepared = lowerPrepare(b.scoped("prepare"), { x, rows, cols }, model.prepare);
  if (prepared.rows + 2 * pad !== h || prepared.cols + 2 * pad !== w) {
    exportError(
      model,
      `its prepared ${prepared.rows}x${prepared.cols} image, padded by ${pad}, is not its input [${model.inputShape}]`,
    );
  }
  x = pre.node("Unsqueeze", [prepared.x, pre.ints("axes", [1], [1])]);
  x = pre.node("Pad", [x, pre.ints("pads", [8], [0, 0, pad, pad, 0, 0, pad, pad])]);
  x = pre.node("Mul", [x, pre.floats("scale", [], [(ink - bg) / 255])]);
  x = pre.node("Add", [x, pre.floats("background", [], [bg])]);
  const steps = model.prepare.map((p) => `${p.type}s to ${p.size}x${p.size}, `).join("");
  const size = `${prepared.rows}x${prepared.cols}`;
  return { input, x, doc: `${steps}pads ${size} grey levels by ${pad} and maps 0..255 to ${bg}..${ink}` };
}

/**
 * The ONNX model of `model`, as messages (see {@linkcode exportOnnx} for the bytes).
 * Throws a GraphError naming a layer whose plugin has no lowering.
 */
export function onnxModel(model: Model, options: ExportOptions = {}): ModelProto {
  const classify = options.classify ?? true;
  if (model.prepare.length && !options.rawInput) {
    const steps = model.prepare.map((p) => `${p.type} to ${p.size}x${p.size}`).join(", then ");
    exportError(
      model,
      `its graph prepares each image before the network (${steps}; data/prepare.ts), which only an export with ` +
        `raw input (rawInput, --raw-input) puts in the graph`,
    );
  }
  const b = new GraphBuilder(["input", "image", "scores", "probabilities", "class"]);
  const pre = options.rawInput ? lowerPreprocess(model, b, options.rawInput, options.preprocess ?? {}) : null;
  const inputs = [
    pre?.input ?? makeValueInfo("input", DataType.FLOAT, [BATCH_DIM, ...model.inputShape], "preprocessed input"),
  ];
  let x = pre?.x ?? "input";
  const shown: ValueInfoProto[] = [];
  model.layers.forEach((layer, i) => {
    if (!layer.plugin.lower) {
      exportError(
        model,
        `layer "${layer.name}" (${layer.type}) has no lowering to standard ONNX ops; its plugin must declare lower()`,
      );
    }
    x = layer.plugin.lower(layer, x, b.scoped(layer.name));
    if (options.intermediates && i < model.layers.length - 1) {
      const name = intermediateName(layer.name);
      b.output(x, name);
      x = name;
      shown.push(makeValueInfo(name, DataType.FLOAT, [BATCH_DIM, ...layer.outShape], `output of ${layer.name}`));
    }
  });
  const input = pre?.x ?? "input";
  const sum = [x];
  for (const [j, other] of (options.ensemble ?? []).entries()) {
    const same = other.inputShape.join() === model.inputShape.join() && other.inputPad === model.inputPad &&
      JSON.stringify(other.prepare) === JSON.stringify(model.prepare) &&
      other.outputShape.join() === model.outputShape.join() && other.loss.plugin.type === model.loss.plugin.type;
    if (!same) {
      exportError(model, `ensemble net ${j + 2} reads another input or gives other scores (input, pad, prepare, loss)`);
    }
    let y = input;
    for (const layer of other.layers) {
      if (!layer.plugin.lower) exportError(other, `layer "${layer.name}" (${layer.type}) has no lowering`);
      y = layer.plugin.lower(layer, y, b.scoped(`net${j + 2}.${layer.name}`));
    }
    sum.push(y);
  }
  if (sum.length > 1) x = b.scoped("ensemble").node("Sum", sum);
  const lossType = model.loss.plugin.type;
  const probs = PROBABILITY_LOWERINGS.get(lossType);
  const outputs = [
    makeValueInfo("scores", DataType.FLOAT, [BATCH_DIM, ...model.outputShape], probs?.scores ?? "scores"),
  ];
  b.output(x, "scores");
  if (classify) {
    if (!probs) {
      exportError(
        model,
        `loss "${lossType}" has no probability lowering (export/onnx.ts PROBABILITY_LOWERINGS); export the scores alone with classify: false`,
      );
    }
    if (model.outputShape.length !== 1) {
      const shape = model.outputShape.join(", ");
      exportError(
        model,
        `class outputs need scores of shape [classes], got [${shape}]; export the scores alone with classify: false`,
      );
    }
    const k = model.classes;
    const p = probs.lower(model.loss.config, "scores", b.scoped("probabilities"));
    b.output(p, "probabilities");
    const c = b.scoped("class").node("ArgMax", ["probabilities"], { axis: { int: 1 }, keepdims: { int: 0 } });
    b.output(c, "class");
    outputs.push(
      makeValueInfo("probabilities", DataType.FLOAT, [BATCH_DIM, k], `class probabilities (loss ${lossType})`),
      makeValueInfo("class", DataType.INT64, [BATCH_DIM], "predicted class: argmax of the probabilities"),
    );
  }
  outputs.push(...shown);
  const name = model.graph.name ?? "model";
  const layers = model.layers.map((l) => `${l.name} (${l.type})`).join(", ");
  const graph = makeGraph(b.nodes, name, inputs, outputs, b.initializers, `layers: ${layers}; loss: ${lossType}`);
  return makeModel(graph, {
    opset: ONNX_OPSET,
    irVersion: ONNX_IR_VERSION,
    producerName: "lenet5-ts",
    docString: `${name} exported from lenet5-ts${pre ? `; preprocessing in the graph: ${pre.doc}` : ""}`,
  });
}

/**
 * Exports a model as the bytes of a .onnx file: the same model and options
 * give the same bytes.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, exportOnnx, PRESETS } from "../mod.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
 * const bytes = exportOnnx(model, { rawInput: "uint8" });
 * if (bytes.length < 4 * 60_000) throw new Error("every weight is an initializer");
 * ```
 */
export function exportOnnx(model: Model, options: ExportOptions = {}): Uint8Array {
  return encodeModel(onnxModel(model, options));
}
