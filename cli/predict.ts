/**
 * `deno task predict`: runs an exported .onnx model in onnxruntime-web on
 * images (an idx file, or one PGM, PNG or JPEG image) and prints the predicted
 * digits. Nothing of the engine runs: the model file alone decides.
 *
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";
import { readFileBounded } from "../data/files.ts";
import { MAX_IDX_BYTES } from "../data/idx.ts";
import { readIdxFile } from "../data/idx_file.ts";
import { preprocess } from "../data/preprocess.ts";
import { readImages } from "../data/images.ts";
import { isBlank, mnistify } from "../data/mnistify.ts";
import { firstNonFiniteAnswer } from "../engine/finite.ts";
import { writeFileAtomic } from "../engine/model_file.ts";
import { encodePng } from "../report/png.ts";
import { firstNonFiniteWeight, OnnxFormatError } from "../export/weights.ts";
import { fsError, OptionError, runCommand } from "./_command.ts";

const HELP = `Usage: deno task predict --model FILE.onnx --input FILE [--labels FILE] [--invert] [--limit N]
                         [--backend webgpu|wasm] [--as-is] [--verbose] [--save-input FILE] [--json]

Runs a model exported by "deno task export" in onnxruntime-web and prints
each image's predicted digit and its probability. A model exported with
--raw-input gets the grey levels as they are; otherwise the paper's
preprocessing is applied first (pad to 32x32, 0..255 to -0.1..1.175).

  --model FILE    the .onnx file
  --input FILE    images: an idx file of images (MNIST format, plain or gzip),
                  or one PGM (P2, P5), PNG or JPEG image of any size
  --labels FILE   an idx file of labels: also print the error rate
  --invert        the images are dark ink on a light background
  --limit N       only the first N images
  --backend NAME  webgpu or wasm (default: webgpu when navigator.gpu offers an
                  adapter, else wasm); the output names the backend and adapter
  --as-is         give a picture to the model as it is (it must be 28x28);
                  by default it is made MNIST-like first: background told by the
                  border, dark ink inverted, cropped to the ink, scaled into 20x20
                  keeping the aspect ratio, centred by centre of mass in 28x28
  --verbose       say what was done to the image
  --save-input F  write the 28x28 image the model saw to F (PNG)
  --json          print JSON: per image the class, probabilities and scores
  -h, --help      show this help
  --version       print the version (from deno.json)
`;

const BATCH = 1000;

/** The description of the WebGPU adapter navigator.gpu offers (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), or null. */
async function webGpuAdapter(): Promise<string | null> {
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  return adapter ? adapter.info.description || adapter.info.vendor || "an adapter" : null;
}

/** How the model reads images: as raw grey levels or preprocessed, and their size. */
interface InputKind {
  readonly name: string;
  readonly raw: boolean;
  readonly type: "uint8" | "float32";
  /** Shape of one input sample, without the batch. */
  readonly sample: readonly number[];
  /** Size of the input image: the raw image's, or the preprocessed map's (an image padded equally on every side). */
  readonly rows: number;
  readonly cols: number;
}

function inputKind(session: ort.InferenceSession, path: string): InputKind {
  const fail = (problem: string): never => {
    throw new Error(`Cannot use ONNX model "${path}": ${problem} (export it with "deno task export")`);
  };
  for (const name of ["scores", "probabilities", "class"]) {
    if (!session.outputNames.includes(name)) fail(`it has no output "${name}"`);
  }
  const meta = session.inputMetadata;
  if (meta.length !== 1 || !meta[0].isTensor) fail(`expected one tensor input, got ${session.inputNames.join(", ")}`);
  const m = meta[0] as ort.InferenceSession.TensorValueMetadata;
  const dims = m.shape.slice(1);
  if (!dims.every((d): d is number => typeof d === "number")) fail(`input "${m.name}" has symbolic sizes [${m.shape}]`);
  const sample = dims as number[];
  if (m.name === "image" && (m.type === "uint8" || m.type === "float32") && sample.length === 2) {
    return { name: m.name, raw: true, type: m.type, sample, rows: sample[0], cols: sample[1] };
  }
  if (m.name === "input" && m.type === "float32" && sample.length === 3 && sample[0] === 1) {
    return { name: m.name, raw: false, type: "float32", sample, rows: sample[1], cols: sample[2] };
  }
  return fail(`input "${m.name}" ${m.type} [${m.shape}] is neither raw images nor one preprocessed map`);
}

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const options = {
    model: { type: "string" },
    input: { type: "string" },
    labels: { type: "string" },
    invert: { type: "boolean", default: false },
    limit: { type: "string" },
    backend: { type: "string" },
    "as-is": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    "save-input": { type: "string" },
    json: { type: "boolean", default: false },
  } as const;
  return runCommand(args, options, HELP, async (values) => {
    if (!values.model) throw new OptionError("Option --model is required (a .onnx file)");
    if (!values.input) throw new OptionError("Option --input is required (an idx, PGM, PNG or JPEG file)");
    let limit = Infinity;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new OptionError(`Option --limit must be an integer >= 1, got "${values.limit}"`);
      }
    }
    const asked = values.backend as string | undefined;
    if (asked !== undefined && asked !== "webgpu" && asked !== "wasm") {
      throw new OptionError(`Option --backend must be webgpu or wasm, got "${asked}"`);
    }
    const modelPath = values.model as string, inputPath = values.input as string;
    const modelBytes = await readFileBounded(modelPath, MAX_IDX_BYTES, (problem) => {
      throw new Error(`Cannot read ONNX model "${modelPath}": ${problem}`);
    });
    let weight;
    try {
      weight = firstNonFiniteWeight(modelBytes);
    } catch (e) {
      if (!(e instanceof OnnxFormatError)) throw e;
      throw new Error(`Cannot load ONNX model "${modelPath}": it is not an ONNX file (${e.message})`);
    }
    if (weight) {
      throw new Error(
        `Cannot trust ONNX model "${modelPath}": its initializer ${weight.name}[${weight.index}] is ${weight.value}; ` +
          `a model's weights must be finite numbers (exported from a diverged run?)`,
      );
    }
    const gpu = asked === "wasm" ? null : await webGpuAdapter();
    if (asked === "webgpu" && !gpu) {
      throw new OptionError("Option --backend webgpu: navigator.gpu offers no adapter here; use --backend wasm");
    }
    const backend = gpu ? "webgpu" : "wasm";
    const ran = gpu ? `webgpu (${gpu})` : "wasm";
    ort.env.wasm.numThreads = 1;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelBytes, { executionProviders: [backend] });
    } catch (e) {
      throw new Error(`Cannot load ONNX model "${modelPath}": ${(e as Error).message}`);
    }
    const kind = inputKind(session, modelPath);
    let data = await readImages(inputPath, { invert: values.invert as boolean });
    const count = Math.min(data.count, limit);
    const notes: string[] = [];
    // A picture of one grey level holds nothing to read: any answer would be a guess.
    for (let i = 0, pixels = data.rows * data.cols; i < count; i++) {
      const image = data.images.subarray(i * pixels, (i + 1) * pixels);
      if (isBlank(image)) {
        throw new Error(
          `Cannot predict: ${data.format === "idx" ? `image ${i} of ` : ""}"${inputPath}" holds no ink: every ` +
            `pixel is grey level ${image[0]}${data.format === "idx" ? "" : ` (${data.cols}x${data.rows} pixels)`}`,
        );
      }
    }
    if (data.format !== "idx" && !values["as-is"]) {
      // One picture of any size: made to look like an MNIST digit, as MNIST was made.
      const m = mnistify(data.images, data.cols, data.rows);
      if (m.box === null) {
        const ground = m.inverted ? "light" : "dark";
        throw new Error(
          `Cannot predict: "${inputPath}" holds no ink: no pixel stands out from its ${ground} background`,
        );
      }
      notes.push(
        `${data.cols}x${data.rows} ${data.format} image` +
          (m.inverted ? ", dark ink on a light ground: inverted" : "") +
          `, ink ${m.box.width}x${m.box.height} at ${m.box.x},${m.box.y} scaled into 20x20, centred by its ` +
          `centre of mass at ${m.offset[0]},${m.offset[1]} in 28x28`,
      );
      data = { images: m.image, count: 1, rows: 28, cols: 28, format: data.format };
    }
    if (values["save-input"]) {
      const out = values["save-input"] as string;
      const png = await encodePng(data.images.subarray(0, data.rows * data.cols), data.cols, data.rows, 1);
      await writeFileAtomic(out, png).catch((e) => {
        throw fsError(e, "write", out, "save-input");
      });
      notes.push(`the ${data.cols}x${data.rows} input the model saw (first image) written to ${out}`);
    }
    if (values.verbose) { for (const n of notes) console.error(`predict: ${n}`); }
    // A preprocessed input is the image padded by the same number of pixels on every side.
    const pad = kind.raw ? 0 : (kind.rows - data.rows) / 2;
    if (!(Number.isInteger(pad) && pad >= 0 && data.cols + 2 * pad === kind.cols)) {
      const takes = kind.raw
        ? `${kind.rows}x${kind.cols}`
        : `a ${kind.rows}x${kind.cols} input, made by padding each image equally on every side`;
      throw new Error(
        `Cannot predict: "${inputPath}" holds ${data.rows}x${data.cols} images, the model takes ${takes}`,
      );
    }
    let labels: ArrayLike<number> | null = null;
    if (values.labels) {
      const idx = await readIdxFile(values.labels as string, 2049);
      if (idx.data.length !== data.count) {
        const counted = (n: number, what: string) => `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;
        const labels = counted(idx.data.length, "label"), images = counted(data.count, "image");
        throw new Error(
          `Cannot use labels "${values.labels}": it holds ${labels}, but "${inputPath}" holds ${images}; the labels must be those of the images, one each`,
        );
      }
      labels = idx.data;
    }

    const size = data.rows * data.cols;
    const k = (session.outputMetadata.find((m) => m.name === "scores") as ort.InferenceSession.TensorValueMetadata)
      .shape[1] as number;
    const classes = new Int32Array(count);
    const probabilities = new Float32Array(count * k), scores = new Float32Array(count * k);
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      const images = data.images.subarray(start * size, (start + n) * size);
      const values = kind.raw
        ? (kind.type === "uint8" ? images : Float32Array.from(images))
        : preprocess(images, n, data.rows, data.cols, { pad });
      const out = await session.run({ [kind.name]: new ort.Tensor(kind.type, values, [n, ...kind.sample]) });
      classes.set(Array.from(out.class.data as BigInt64Array, Number), start);
      probabilities.set(out.probabilities.data as Float32Array, start * k);
      scores.set(out.scores.data as Float32Array, start * k);
    }
    await session.release();
    // A model whose weights are not finite, or overflow, answers NaN or Infinity: refuse it.
    const bad = firstNonFiniteAnswer(scores, probabilities, k);
    if (bad) {
      throw new Error(
        `Cannot trust ONNX model "${modelPath}": its ${bad.output} ${bad.class} for image ${bad.sample} is ` +
          `${bad.value}; are its weights finite numbers, small enough not to overflow?`,
      );
    }

    let wrong = 0;
    if (labels) { for (let i = 0; i < count; i++) if (classes[i] !== labels[i]) wrong++; }
    const error = labels ? { wrong, count, rate: wrong / count } : undefined;
    if (values.json) {
      const predictions = Array.from(classes, (c, i) => ({
        class: c,
        probabilities: Array.from(probabilities.subarray(i * k, (i + 1) * k)),
        scores: Array.from(scores.subarray(i * k, (i + 1) * k)),
      }));
      console.log(JSON.stringify({ model: modelPath, input: inputPath, backend: ran, count, error, predictions }));
      return 0;
    }
    const lines = [
      `Model: ${modelPath} (${kind.raw ? `raw ${kind.type} images` : "preprocessed input"}), on ${ran}`,
      `Images: ${inputPath} (${count} of ${data.count}, ${data.rows}x${data.cols})`,
      "",
      `image  class  probability${labels ? "  label" : ""}`,
    ];
    for (let i = 0; i < count; i++) {
      const p = probabilities[i * k + classes[i]].toFixed(4);
      const label = labels ? `  ${String(labels[i]).padStart(5)}${labels[i] === classes[i] ? "" : "  x"}` : "";
      lines.push(`${String(i).padStart(5)}  ${String(classes[i]).padStart(5)}  ${p.padStart(11)}${label}`);
    }
    if (error) lines.push("", `error ${(100 * error.rate).toFixed(2)}% (${wrong} of ${count})`);
    console.log(lines.join("\n"));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
