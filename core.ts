/**
 * The library's core: registry, graphs, engine and kernels, layers, losses,
 * optimizers, presets, preprocessing and distortions, model JSON, the ONNX
 * export and its protobuf writer. It touches no file and no process: no
 * Deno API and no `node:` module, so esbuild bundles it for a browser page
 * or a Web Worker unchanged (tests/core_bundle_test.ts checks the bundle).
 * `mod.ts` adds the file-reading edge: model files, idx files, the MNIST
 * package, image files.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "./core.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
 * console.log(model.forward(new Float32Array(32 * 32).fill(-0.1), 1).length); // 10
 * ```
 *
 * @module
 */
export * from "./engine/types.ts";
export { emptyRegistries, type Registries, Registry, RegistryError } from "./engine/registry.ts";
export { BUILTIN_KERNELS, BUILTIN_LAYERS, BUILTIN_LOSSES, BUILTIN_OPTIMIZERS, createRegistries } from "./builtins.ts";
export { defaultRegistry, registerBuiltins } from "./builtins.ts";
export type { BackwardOptions, BuildOptions, BuiltLayer, GraphSpec, LayerSpec, LossSpec } from "./engine/model.ts";
export { buildModel, Model } from "./engine/model.ts";
export { buildError, ConfigReader, fieldError, FRACTION, integerRule, numberRule } from "./engine/config.ts";
export { requireMaps, requireVector, sizeOf } from "./engine/config.ts";
export { INIT_NAMES, INITIALIZERS } from "./engine/init.ts";
export { MAX_ACTIVATIONS, MAX_BUFFER_BYTES, MAX_DIM, MAX_MAP_PAIRS, MAX_MAPS } from "./engine/limits.ts";
export { MAX_PARAMETERS, MAX_RANK, MAX_UNITS, MAX_WINDOW } from "./engine/limits.ts";
export { Rng } from "./engine/rng.ts";
export type { Batch, OptimizerSpec } from "./engine/train.ts";
export { createOptimizer, estimateCurvature, Optimizer, trainStep } from "./engine/train.ts";
export { type ParallelOptions, ParallelTrainer } from "./engine/parallel.ts";
export type { KernelBackend, KernelChoice, KernelConfig, LayerCompute } from "./engine/kernels.ts";
export { jsKernels, KERNEL_NAMES, KernelRegistry, layerCompute } from "./engine/kernels.ts";
export { createWasmKernels, loadWasmKernels, wasmKernelsProblem } from "./engine/wasm/backend.ts";
export { formatSummary } from "./engine/summary.ts";
export { isModelFile, MODEL_FORMAT, type ModelFile, modelFromJSON, modelToJSON } from "./engine/model_json.ts";
export { describeNonFinite, firstNonFinite, type NonFiniteParam } from "./engine/finite.ts";
export { type Activation, elementwise, type ElementwiseKernels, referenceKernels } from "./layers/_elementwise.ts";
export { conv2d, type Conv2dConfig, denseConvWeights } from "./layers/conv2d.ts";
export { type PoolConfig } from "./layers/_pool.ts";
export { subsample } from "./layers/subsample.ts";
export { avgpool } from "./layers/avgpool.ts";
export { maxpool } from "./layers/maxpool.ts";
export { relu, squash, type SquashConfig, tanh } from "./layers/activations.ts";
export { full, type FullConfig } from "./layers/full.ts";
export { flatten } from "./layers/flatten.ts";
export { parseCode, rbf, type RbfConfig } from "./layers/rbf.ts";
export { DEFAULT_MAP_J, type MapConfig, mapLoss } from "./losses/map.ts";
export { mseRbfLoss } from "./losses/mse_rbf.ts";
export { softmaxCrossEntropyLoss } from "./losses/softmax_cross_entropy.ts";
export { sgd, type SgdConfig } from "./optim/sgd.ts";
export type { SdlmConfig, SdlmCurvature } from "./optim/sdlm.ts";
export { DEFAULT_SDLM_MU, sdlm, SDLM_OPTIONS, sdlmStepSizes } from "./optim/sdlm.ts";
export { adam, type AdamConfig } from "./optim/adam.ts";
export type { Deviation, Preset, RunRecipe } from "./presets/presets.ts";
export { activeDeviations, getPreset, LENET5_CURVATURE_MEMORY, LENET5_DEVIATIONS } from "./presets/presets.ts";
export { LENET5_J, LENET5_SETTINGS, lenet5Graph, lenet5ModernGraph, PAPER_SCHEDULE } from "./presets/presets.ts";
export { PRESETS, settingValue } from "./presets/presets.ts";
export type { CommonSettings, RunSettings } from "./presets/recipe.ts";
export { fitOptionsOf, formatRecipe, formatSchedule, optimizerSpecOf, optionsOf } from "./presets/recipe.ts";
export { presetSettings, settingsRows, splitOptimizer } from "./presets/recipe.ts";
export { C3_TABLE, RBF_CODES } from "./presets/lenet5_data.ts";
export type { Choice, Fig9Network } from "./presets/fig9.ts";
export { cyclicTable, DESLANT_20, FIG9_NETWORKS, LENET1_C3_TABLE, LENET4_S2_TABLE } from "./presets/fig9.ts";
export { lenet1Graph, lenet4Graph, linearGraph, mlpGraph, PLACE_CODES } from "./presets/fig9.ts";
export { type NearestNeighbours, nearestNeighbours, type NearestOptions, type Neighbours } from "./engine/nearest.ts";
export { type Reference, vote } from "./engine/nearest.ts";
export { classificationMetrics, formatMetrics, type Metrics } from "./engine/metrics.ts";
export type { FitOptions, FitState, LossPoint, PassResult, PassSnapshot, Progress } from "./engine/fit.ts";
export { DivergenceError, fit, learningRateOf, patternOrder } from "./engine/fit.ts";
export { evaluate, type Evaluation, type Scorer } from "./engine/evaluate.ts";
export { type PassEvalOptions, type PassEvaluation, PassEvaluations } from "./engine/pass_eval.ts";
export {
  checkSplitFits,
  type DataSource,
  imageSource,
  type InputSpec,
  isSplit,
  padOf,
  tensorSource,
} from "./data/source.ts";
export { BackgroundEvaluator, type EvalRanges, type EvalResult, splitRanges } from "./engine/evaluator.ts";
export { PAPER_PREPROCESS, preprocess, preprocessInto, type PreprocessOptions } from "./data/preprocess.ts";
export { areaWeights, cropInto, deslantInto, downsampleInto, inkBox, moments, PREPARE_TYPES } from "./data/prepare.ts";
export { modelInputs, preparedData, prepareSplit, type PrepareStep, readPrepare } from "./data/prepare.ts";
export { type DistortionRanges } from "./data/distort.ts";
export { mnistify, type MnistifyOptions, type MnistifyResult } from "./data/mnistify.ts";
export { gunzipIdx, type Idx, IdxError, MAX_IDX_BYTES, parseIdx } from "./data/idx.ts";
export type { Dataset, Split } from "./data/split.ts";
export { MNIST_FILE_NAMES, MNIST_FILES, splitFromIdx } from "./data/split.ts";
export type { ExportOptions, ProbabilityLowering } from "./export/onnx.ts";
export { BATCH_DIM, exportOnnx, intermediateName, ONNX_IR_VERSION, ONNX_OPSET, onnxModel } from "./export/onnx.ts";
export { PREPARED_IMAGE_SIDE } from "./export/onnx.ts";
export { PROBABILITY_LOWERINGS } from "./export/onnx.ts";
export type { AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetId, TensorProto } from "./export/proto.ts";
export type { ValueInfoProto } from "./export/proto.ts";
export { AttributeType, DataType, encodeModel, makeAttribute, makeGraph, makeModel, makeNode } from "./export/proto.ts";
export { makeTensor, makeValueInfo } from "./export/proto.ts";
export { firstNonFiniteWeight, type NonFiniteWeight, OnnxFormatError } from "./export/weights.ts";
