/**
 * A graph's `prepare` steps (data/prepare.ts) as standard ONNX ops, on raw
 * grey levels [N, rows, cols], so an exported model reads the raw image as
 * the engine's data path does:
 *
 * - `crop`: the ink's bounding box from reductions, then the window copied
 *   by two products with 0/1 selection matrices (hat weights at whole-pixel
 *   offsets): S_rows X S_cols^T.
 * - `downsample`: two fixed matrix products with the area weights, A X B^T.
 * - `deslant`: the moments and the sheared ink's bounding box from
 *   reductions, then bilinear resampling written as products with hat
 *   weights relu(1 - |u - p|): rows first ([N, size, rows] x [N, rows, cols]),
 *   then each output row along its own sheared line.
 *
 * Deslant and downsample end with Round, as the engine rounds to grey levels (Round halves to
 * even where the engine's Math.round halves up; a downsampled value is never
 * a half, a deslanted one almost never).
 *
 * @module
 */
import { areaWeights, type PrepareStep } from "../data/prepare.ts";
import type { OnnxLowering } from "../engine/types.ts";

/** A prepared image tensor and its size. */
interface Image {
  readonly x: string;
  readonly rows: number;
  readonly cols: number;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const axes = (onnx: OnnxLowering, name: string, values: number[]) => onnx.ints(name, [values.length], values);

/** X [N, rows, cols] reduced to [N, size, size] by area averaging. */
function downsample(onnx: OnnxLowering, image: Image, size: number): Image {
  const a = onnx.floats("rows", [size, image.rows], areaWeights(image.rows, size));
  const b = areaWeights(image.cols, size), bt = new Float32Array(image.cols * size);
  for (let o = 0; o < size; o++) for (let i = 0; i < image.cols; i++) bt[i * size + o] = b[o * image.cols + i];
  const t = onnx.node("MatMul", [a, image.x]);
  const y = onnx.node("MatMul", [t, onnx.floats("cols", [image.cols, size], bt)]);
  return { x: onnx.node("Round", [y]), rows: size, cols: size };
}

/** X [N, rows, cols] deslanted and cropped to [N, size, size]. */
function deslant(onnx: OnnxLowering, image: Image, size: number): Image {
  const { x, rows, cols } = image, half = (size - 1) / 2;
  const node = (op: string, ...inputs: string[]) => onnx.node(op, inputs);
  const f = (name: string, dims: number[], values: ArrayLike<number>) => onnx.floats(name, dims, values);
  const sum = (t: string) => onnx.node("ReduceSum", [t, axes(onnx, "axes", [1, 2])], { keepdims: { int: 1 } });
  const reduce = (op: "ReduceMin" | "ReduceMax", t: string) =>
    onnx.node(op, [t], { axes: { ints: [1, 2] }, keepdims: { int: 1 } });
  const xs = f("x", [1, 1, cols], range(cols)), ys = f("y", [1, rows, 1], range(rows));
  // Centre of mass and slant mu11 / mu02 (0 where mu02 is 0: then mu11 is 0 too), each [N, 1, 1].
  const m = node("Max", sum(x), f("tiny", [], [1e-30]));
  const cx = node("Div", sum(node("Mul", x, xs)), m), cy = node("Div", sum(node("Mul", x, ys)), m);
  const dx = node("Sub", xs, cx), dy = node("Sub", ys, cy);
  const mu11 = sum(node("Mul", node("Mul", x, dx), dy)), mu02 = sum(node("Mul", node("Mul", x, dy), dy));
  const slant = node("Div", mu11, node("Max", mu02, f("tiny02", [], [1e-30])));
  // The box that bounds the ink once sheared; the centre of mass where there is no ink.
  const ink = node("Greater", x, f("zero", [], [0]));
  const big = f("big", [], [1e9]), minusBig = f("minus_big", [], [-1e9]);
  const sheared = node("Sub", xs, node("Mul", slant, dy));
  const left = reduce("ReduceMin", node("Where", ink, sheared, big));
  const right = reduce("ReduceMax", node("Where", ink, sheared, minusBig));
  const top = reduce("ReduceMin", node("Where", ink, ys, big));
  const bottom = reduce("ReduceMax", node("Where", ink, ys, minusBig));
  const halfOf = (a: string, b: string) => node("Mul", node("Add", a, b), f("half", [], [0.5]));
  const some = node("LessOrEqual", left, right);
  const wx = node("Where", some, halfOf(left, right), cx), wy = node("Where", some, halfOf(top, bottom), cy);
  // Rows: y_r = wy + r - half, [N, size, 1]; hat weights over the image's rows, [N, size, rows].
  const hat = (d: string) => node("Relu", node("Sub", f("one", [], [1]), node("Abs", d)));
  const yr = node("Add", wy, f("r", [1, size, 1], range(size, -half)));
  const wy2 = hat(node("Sub", f("y_row", [1, 1, rows], range(rows)), yr));
  const across = node("MatMul", wy2, x); // [N, size, cols]
  // Columns: x_rc = wx + c - half + slant (y_r - cy), [N, size, size]; hat weights over the columns, [N, size, size, cols].
  const xr = node(
    "Add",
    node("Add", wx, f("c", [1, 1, size], range(size, -half))),
    node("Mul", slant, node("Sub", yr, cy)),
  );
  const wx2 = hat(
    node("Sub", onnx.node("Unsqueeze", [xr, axes(onnx, "axis3", [3])]), f("x_col", [1, 1, 1, cols], range(cols))),
  );
  const out = node("MatMul", wx2, onnx.node("Unsqueeze", [across, axes(onnx, "axis3b", [3])])); // [N, size, size, 1]
  const y = onnx.node("Squeeze", [out, axes(onnx, "axis3c", [3])]);
  return { x: node("Round", y), rows: size, cols: size };
}

/** X [N, rows, cols] cropped to the [N, size, size] window centred on the box that bounds the ink. */
function crop(onnx: OnnxLowering, image: Image, size: number): Image {
  const { x, rows, cols } = image, half = (size - 1) / 2;
  const node = (op: string, ...inputs: string[]) => onnx.node(op, inputs);
  const f = (name: string, dims: number[], values: ArrayLike<number>) => onnx.floats(name, dims, values);
  const reduce = (op: "ReduceMin" | "ReduceMax", t: string) =>
    onnx.node(op, [t], { axes: { ints: [1, 2] }, keepdims: { int: 1 } });
  const xs = f("x", [1, 1, cols], range(cols)), ys = f("y", [1, rows, 1], range(rows));
  const ink = node("Greater", x, f("zero", [], [0]));
  const big = f("big", [], [1e9]), minusBig = f("minus_big", [], [-1e9]);
  const lo = (t: string) => reduce("ReduceMin", node("Where", ink, t, big));
  const hi = (t: string) => reduce("ReduceMax", node("Where", ink, t, minusBig));
  const top = lo(ys), bottom = hi(ys), left = lo(xs), right = hi(xs);
  // The window's first row and column, floor(centre - half + 0.5), [N, 1, 1]; the image's own when it holds no ink.
  const corner = (a: string, b: string, n: number) =>
    node(
      "Where",
      node("LessOrEqual", a, b),
      node("Floor", node("Add", node("Mul", node("Add", a, b), f("half", [], [0.5])), f("shift", [], [0.5 - half]))),
      f("centre", [], [Math.floor((n - 1) / 2 - half + 0.5)]),
    );
  const y0 = corner(top, bottom, rows), x0 = corner(left, right, cols);
  const pick = (d: string) => node("Relu", node("Sub", f("one", [], [1]), node("Abs", d)));
  // Rows: 1 where y = y0 + r, [N, size, rows]; columns: 1 where x = x0 + c, [N, cols, size].
  const sr = pick(
    node("Sub", f("y_row", [1, 1, rows], range(rows)), node("Add", y0, f("r", [1, size, 1], range(size)))),
  );
  const sc = pick(
    node("Sub", f("x_col", [1, cols, 1], range(cols)), node("Add", x0, f("c", [1, 1, size], range(size)))),
  );
  return { x: node("MatMul", node("MatMul", sr, x), sc), rows: size, cols: size };
}

/** Applies `steps` in turn to the grey levels `image` ([N, rows, cols] float); returns the prepared tensor. */
export function lowerPrepare(onnx: OnnxLowering, image: Image, steps: readonly PrepareStep[]): Image {
  return steps.reduce((im, step) => ({ deslant, crop, downsample })[step.type](onnx, im, step.size), image);
}
