/**
 * conv2d: 2-D convolution with an optional connection table (LeCun et al.
 * 1998, Table I). Only connected (input map, output map) pairs own weights, so
 * an unconnected pair has no weight to train: its gradient is zero by
 * construction, and the kernels skip it instead of multiplying zeros.
 *
 * Config: `maps` (output maps), `kernel`, `stride` (1), `padding` (0, zeros),
 * `table` (optional: one row per input map, one 0/1 column per output map).
 *
 * Weights are packed by output map, then by connected input map in
 * increasing order, then kH x kW. Without a table every pair is connected and
 * the layout is the dense (maps, inMaps, k, k).
 *
 * @module
 */
import { buildError, ConfigReader, fieldError, requireMaps, show, showShape } from "../engine/config.ts";
import { grouped, MAX_MAP_PAIRS, MAX_MAPS, MAX_WINDOW } from "../engine/limits.ts";
import type { Floats, Layer, LayerPlugin } from "../engine/types.ts";
import { conv5Backward, conv5Forward } from "./_conv5.ts";
import { denseBackward, denseForward } from "./_dense.ts";
import { squares } from "./_scratch.ts";

/** The checked config of a conv2d layer. */
export interface Conv2dConfig {
  /** Number of output maps. */
  readonly maps: number;
  /** Side of the square kernel, in pixels. */
  readonly kernel: number;
  /** Step between two kernel positions, in pixels (default 1). */
  readonly stride: number;
  /** Zeros added on each side of the input, in pixels (default 0). */
  readonly padding: number;
  /** Table as given (rows = input maps), or null for full connection. */
  readonly table: readonly (readonly number[])[] | null;
  /** For output map o: its connected input maps are `inputs[start[o] .. start[o+1])`. */
  readonly start: Int32Array;
  /** Input map of each connected pair; pairs are ordered by output map, then by input map. */
  readonly inputs: Int32Array;
  /** The pairs by input map: input map i feeds the pairs `byInput[inputStart[i] .. inputStart[i+1])`. */
  readonly inputStart: Int32Array;
  /** Pair indices grouped by input map (see `inputStart`), increasing within each group. */
  readonly byInput: Int32Array;
  /** Output map of each pair. */
  readonly outputOf: Int32Array;
}

function outSize(size: number, c: Conv2dConfig): number {
  return Math.floor((size + 2 * c.padding - c.kernel) / c.stride) + 1;
}

/** Dense (maps, inMaps, k, k) weights from packed ones, zero where the table has no connection. */
export function denseConvWeights(config: Conv2dConfig, inMaps: number, packed: Floats): Float32Array {
  const kk = config.kernel * config.kernel;
  const dense = new Float32Array(config.maps * inMaps * kk);
  for (let o = 0; o < config.maps; o++) {
    for (let e = config.start[o]; e < config.start[o + 1]; e++) {
      const i = config.inputs[e];
      dense.set(packed.subarray(e * kk, (e + 1) * kk), (o * inMaps + i) * kk);
    }
  }
  return dense;
}

/** The `conv2d` layer: 2-D convolution. Config: `maps`, `kernel`, `stride`, `padding`, `table` (see Conv2dConfig). */
export const conv2d: LayerPlugin<Conv2dConfig> = {
  type: "conv2d",
  description: "2-D convolution, optional connection table between input and output maps",

  configure(raw, input, where) {
    const r = new ConfigReader(raw, where);
    const maps = r.int("maps", { min: 1, max: MAX_MAPS, limit: "MAX_MAPS" });
    const kernel = r.int("kernel", { min: 1, max: MAX_WINDOW, limit: "MAX_WINDOW" });
    const stride = r.int("stride", { min: 1, max: MAX_WINDOW, limit: "MAX_WINDOW", fallback: 1 });
    const padding = r.int("padding", { min: 0, max: MAX_WINDOW, limit: "MAX_WINDOW", fallback: 0 });
    const rawTable = r.raw("table");
    r.done();
    const [inMaps, h, w] = requireMaps(input, where);
    // Checked before the table is read and the pairs are listed: both take inMaps x maps steps.
    if (inMaps * maps > MAX_MAP_PAIRS) {
      const pairs = grouped(inMaps * maps), limit = grouped(MAX_MAP_PAIRS);
      buildError(
        where,
        `${inMaps} input maps x ${maps} output maps make ${pairs} map pairs, over the limit of ${limit} (MAX_MAP_PAIRS)`,
      );
    }
    if (h + 2 * padding < kernel || w + 2 * padding < kernel) {
      const shape = showShape(input), least = kernel - 2 * padding;
      buildError(
        where,
        `input shape ${shape} is smaller than the ${kernel}x${kernel} kernel (padding ${padding}); expected height and width >= ${least}`,
      );
    }
    let table: number[][] | null = null;
    if (rawTable !== undefined) {
      const ok = Array.isArray(rawTable) && rawTable.length === inMaps &&
        rawTable.every((row) => Array.isArray(row) && row.length === maps && row.every((v) => v === 0 || v === 1));
      if (!ok) {
        const got = show(rawTable);
        fieldError(
          where,
          "table",
          `must be ${inMaps} rows (one per input map) of ${maps} entries 0 or 1 (one per output map), got ${got}`,
        );
      }
      table = rawTable as number[][];
    }
    // Pairs by output map: count each map's inputs, then list them (typed arrays, linear in the pairs).
    const start = new Int32Array(maps + 1);
    for (let o = 0; o < maps; o++) {
      let count = inMaps;
      if (table !== null) {
        count = 0;
        for (let i = 0; i < inMaps; i++) count += table[i][o];
      }
      if (count === 0) {
        fieldError(where, "table", `leaves output map ${o} with no input map; expected at least one 1 in column ${o}`);
      }
      start[o + 1] = start[o] + count;
    }
    const inputs = new Int32Array(start[maps]), outputOf = new Int32Array(start[maps]);
    for (let o = 0, e = 0; o < maps; o++) {
      for (let i = 0; i < inMaps; i++) {
        if (table === null || table[i][o] === 1) {
          inputs[e] = i;
          outputOf[e++] = o;
        }
      }
    }
    // The pairs by input map, in increasing pair order (a counting sort: linear in the pairs).
    const inputStart = new Int32Array(inMaps + 1);
    for (const i of inputs) inputStart[i + 1]++;
    for (let i = 0; i < inMaps; i++) inputStart[i + 1] += inputStart[i];
    const byInput = new Int32Array(inputs.length), next = inputStart.slice(0, inMaps);
    for (let e = 0; e < inputs.length; e++) byInput[next[inputs[e]]++] = e;
    return { maps, kernel, stride, padding, table, start, inputs, inputStart, byInput, outputOf };
  },

  outputShape(c, input) {
    return [c.maps, outSize(input[1], c), outSize(input[2], c)];
  },

  params(c, input) {
    const kk = c.kernel * c.kernel;
    const pairs = c.inputs.length;
    const shape = c.table ? [pairs, c.kernel, c.kernel] : [c.maps, input[0], c.kernel, c.kernel];
    // fanIn is the mean over maps; init() uses each map's own fan-in.
    const fanIn = (pairs * kk) / c.maps;
    const fanOut = (pairs * kk) / input[0];
    return [
      { name: "weight", shape, fanIn, fanOut, role: "weight" },
      { name: "bias", shape: [c.maps], fanIn, fanOut, role: "bias" },
    ];
  },

  connections(c, input) {
    const [, ho, wo] = conv2d.outputShape(c, input);
    return ho * wo * (c.inputs.length * c.kernel * c.kernel + c.maps);
  },

  init(layer, init, rng) {
    // Each output map is a unit with its own fan-in (C3 maps see 3, 4 or 6 maps).
    const c = layer.config;
    const kk = c.kernel * c.kernel;
    const [w, b] = layer.params;
    const fanOut = (c.inputs.length * kk) / layer.inShape[0];
    for (let o = 0; o < c.maps; o++) {
      const fanIn = (c.start[o + 1] - c.start[o]) * kk;
      init(w.subarray(c.start[o] * kk, c.start[o + 1] * kk), { fanIn, fanOut, role: "weight" }, rng);
      init(b.subarray(o, o + 1), { fanIn, fanOut, role: "bias" }, rng);
    }
  },

  forward(layer, x, y, n) {
    switch (kernelsFor(layer)) {
      case "dense":
        return denseForward(x, layer.params[0], layer.params[1], y, n, layer.inSize, layer.config.maps);
      case "5x5":
        return conv5Forward(layer, x, y, n);
      case "stride1":
        return fastForward(layer, x, y, n);
      default:
        return referenceForward(layer, x, y, n);
    }
  },

  backward(layer, x, y, dy, dx, grads, n) {
    switch (kernelsFor(layer)) {
      case "dense":
        return denseBackward(x, layer.params[0], dy, dx, grads[0], grads[1], n, layer.inSize, layer.config.maps);
      case "5x5":
        return conv5Backward(layer, x, layer.params[0], dy, dx, grads[0], grads[1], n);
      case "stride1":
        return fastBackward(layer, x, dy, dx, grads, n, false);
      default:
        return referenceBackward(layer, x, y, dy, dx, grads, n);
    }
  },

  // Gauss-Newton: the backward kernels run on x^2 and w^2 (see fastBackward's `square` for the rest).
  backward2(layer, x, y, dy, d2y, d2x, hess, n) {
    const kernels = kernelsFor(layer);
    if (kernels === "dense" || kernels === "5x5") {
      const x2 = squares(x, 0, n * layer.inSize), w2 = squares(layer.params[0], 1);
      if (kernels === "dense") denseBackward(x2, w2, d2y, d2x, hess[0], hess[1], n, layer.inSize, layer.config.maps);
      else conv5Backward(layer, x2, w2, d2y, d2x, hess[0], hess[1], n);
    } else if (kernels === "stride1") fastBackward(layer, x, d2y, d2x, hess, n, true);
    else referenceBackward2(layer, x, y, dy, d2y, d2x, hess, n);
  },

  // A table is not an ONNX notion: a dense Conv whose unconnected kernels are zero.
  lower(layer, input, onnx) {
    const c = layer.config, inMaps = layer.inShape[0];
    const [weight, bias] = layer.params;
    const dense = denseConvWeights(c, inMaps, weight);
    const channels = webgpuSafeChannels(inMaps, c.maps);
    let x = input, w: string;
    if (channels === inMaps) w = onnx.floats("weight", [c.maps, inMaps, c.kernel, c.kernel], dense);
    else {
      // Zero input channels with zero kernels: the same sums, on a path onnxruntime-web's WebGPU computes right.
      x = onnx.node("Pad", [input, onnx.ints("channel_pads", [8], [0, 0, 0, 0, 0, channels - inMaps, 0, 0])]);
      w = onnx.floats(
        "weight",
        [c.maps, channels, c.kernel, c.kernel],
        padChannels(dense, c.maps, inMaps, channels, c.kernel),
      );
    }
    return onnx.node("Conv", [x, w, onnx.floats("bias", [c.maps], bias)], {
      kernel_shape: { ints: [c.kernel, c.kernel] },
      strides: { ints: [c.stride, c.stride] },
      pads: { ints: [c.padding, c.padding, c.padding, c.padding] },
    });
  },
};

/**
 * The input channels to give an exported Conv so that onnxruntime-web's
 * WebGPU backend computes it right: `inMaps`, or the next multiple of 4 when
 * `inMaps` is a multiple of 3 but not of 4 (above 3) and `maps` a multiple
 * of 4. onnxruntime-web 1.30 runs such a Conv (LeNet-5's C3: 6 -> 16) in its
 * channels-last layout reading three channels at a time and takes every
 * read from the first three channels, so all but the first three inputs
 * are wrong (docs/webgpu.md has the smallest graph and what each backend gives).
 */
export function webgpuSafeChannels(inMaps: number, maps: number): number {
  return inMaps > 3 && inMaps % 3 === 0 && inMaps % 4 !== 0 && maps % 4 === 0 ? Math.ceil(inMaps / 4) * 4 : inMaps;
}

/** Dense OIHW kernels with zero kernels for the added input channels `inMaps .. channels - 1`. */
function padChannels(dense: Float32Array, maps: number, inMaps: number, channels: number, k: number): Float32Array {
  const kk = k * k, out = new Float32Array(maps * channels * kk);
  for (let o = 0; o < maps; o++) out.set(dense.subarray(o * inMaps * kk, (o + 1) * inMaps * kk), o * channels * kk);
  return out;
}

// Reference kernels: any stride and padding, written for clarity. The tests
// compare the fast kernels below against them.

export function referenceForward(layer: Layer<Conv2dConfig>, x: Floats, y: Floats, n: number): void {
  const c = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [, ho, wo] = layer.outShape;
  const k = c.kernel, kk = k * k, s = c.stride, pad = c.padding;
  const [weight, bias] = layer.params;
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * h * w;
    for (let o = 0; o < c.maps; o++) {
      const yo = (b * c.maps + o) * ho * wo;
      y.fill(bias[o], yo, yo + ho * wo);
      for (let e = c.start[o]; e < c.start[o + 1]; e++) {
        const xi = xb + c.inputs[e] * h * w;
        const we = e * kk;
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            let sum = 0;
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * s - pad + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * s - pad + kx;
                if (ix < 0 || ix >= w) continue;
                sum += weight[we + ky * k + kx] * x[xi + iy * w + ix];
              }
            }
            y[yo + oy * wo + ox] += sum;
          }
        }
      }
    }
  }
}

export function referenceBackward(
  layer: Layer<Conv2dConfig>,
  x: Floats,
  _y: Floats,
  dy: Floats,
  dx: Floats | null,
  grads: readonly Floats[],
  n: number,
): void {
  referenceAccumulate(layer, x, dy, dx, grads, n, false);
}

export function referenceBackward2(
  layer: Layer<Conv2dConfig>,
  x: Floats,
  _y: Floats,
  _dy: Floats,
  d2y: Floats,
  d2x: Floats | null,
  hess: readonly Floats[],
  n: number,
): void {
  // Gauss-Newton: d2E/dw^2 = sum x^2 d2E/da^2 (shared weights sum their
  // connections); d2E/dx^2 = sum w^2 d2E/da^2.
  referenceAccumulate(layer, x, d2y, d2x, hess, n, true);
}

// The backward loops: from g = dE/dy they accumulate x g into the weight
// gradient and w g into dx; with `square`, x^2 g and w^2 g (second derivatives).
function referenceAccumulate(
  layer: Layer<Conv2dConfig>,
  x: Floats,
  dy: Floats,
  dx: Floats | null,
  out: readonly Floats[],
  n: number,
  square: boolean,
): void {
  const c = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [, ho, wo] = layer.outShape;
  const k = c.kernel, kk = k * k, s = c.stride, pad = c.padding;
  const [weight] = layer.params;
  const [gw, gb] = out;
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * h * w;
    for (let o = 0; o < c.maps; o++) {
      const yo = (b * c.maps + o) * ho * wo;
      let sb = 0;
      for (let p = 0; p < ho * wo; p++) sb += dy[yo + p];
      gb[o] += sb;
      for (let e = c.start[o]; e < c.start[o + 1]; e++) {
        const xi = xb + c.inputs[e] * h * w;
        const we = e * kk;
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            const g = dy[yo + oy * wo + ox];
            if (g === 0) continue;
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * s - pad + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * s - pad + kx;
                if (ix < 0 || ix >= w) continue;
                const xv = x[xi + iy * w + ix], wv = weight[we + ky * k + kx];
                gw[we + ky * k + kx] += g * (square ? xv * xv : xv);
                if (dx) dx[xi + iy * w + ix] += g * (square ? wv * wv : wv);
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Which kernels run a layer: "dense" when the kernel covers the whole input
 * and every pair is connected (C5: a dense layer, layers/_dense.ts), "5x5"
 * for 5x5 kernels with stride 1 and no padding (C1, C3: layers/_conv5.ts),
 * "stride1" for other kernels with stride 1 and no padding (below), else the
 * reference kernels.
 */
export function kernelsFor(layer: Layer<Conv2dConfig>): "dense" | "5x5" | "stride1" | "reference" {
  const c = layer.config;
  if (c.stride !== 1 || c.padding !== 0) return "reference";
  const [inMaps, h, w] = layer.inShape;
  if (h === c.kernel && w === c.kernel && c.inputs.length === inMaps * c.maps) return "dense";
  return c.kernel === 5 ? "5x5" : "stride1";
}

// Generic fast kernels for stride 1 without padding: the weight is hoisted
// out of the loops and the innermost loop runs along a row, with no bounds
// checks. When the kernel covers the whole input, each output is one dot
// product over contiguous memory.

function fastForward(layer: Layer<Conv2dConfig>, x: Floats, y: Floats, n: number): void {
  const c = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [, ho, wo] = layer.outShape;
  const k = c.kernel, kk = k * k, hw = h * w, ohw = ho * wo;
  const [weight, bias] = layer.params;
  const whole = ho === 1 && wo === 1;
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * hw;
    for (let o = 0; o < c.maps; o++) {
      const yo = (b * c.maps + o) * ohw;
      if (whole) {
        let sum = bias[o];
        for (let e = c.start[o]; e < c.start[o + 1]; e++) {
          const xi = xb + c.inputs[e] * hw, we = e * kk;
          for (let j = 0; j < kk; j++) sum += weight[we + j] * x[xi + j];
        }
        y[yo] = sum;
        continue;
      }
      y.fill(bias[o], yo, yo + ohw);
      for (let e = c.start[o]; e < c.start[o + 1]; e++) {
        const xi = xb + c.inputs[e] * hw, we = e * kk;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const wv = weight[we + ky * k + kx];
            for (let oy = 0; oy < ho; oy++) {
              const yr = yo + oy * wo, xr = xi + (oy + ky) * w + kx;
              for (let ox = 0; ox < wo; ox++) y[yr + ox] += wv * x[xr + ox];
            }
          }
        }
      }
    }
  }
}

/**
 * Backward (`square` false): gw += dy * x, gb += dy, dx += w * dy.
 * Gauss-Newton backward (`square` true, d = d2y): hw += d * x^2, hb += d, d2x += w^2 * d.
 */
function fastBackward(
  layer: Layer<Conv2dConfig>,
  x: Floats,
  d: Floats,
  dx: Floats | null,
  out: readonly Floats[],
  n: number,
  square: boolean,
): void {
  const c = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [, ho, wo] = layer.outShape;
  const k = c.kernel, kk = k * k, hw = h * w, ohw = ho * wo;
  const [weight] = layer.params;
  const [gw, gb] = out;
  const whole = ho === 1 && wo === 1;
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * hw;
    for (let o = 0; o < c.maps; o++) {
      const yo = (b * c.maps + o) * ohw;
      let sb = 0;
      for (let p = 0; p < ohw; p++) sb += d[yo + p];
      gb[o] += sb;
      for (let e = c.start[o]; e < c.start[o + 1]; e++) {
        const xi = xb + c.inputs[e] * hw, we = e * kk;
        if (whole) {
          const g = d[yo];
          if (g === 0) continue;
          for (let j = 0; j < kk; j++) {
            const xv = x[xi + j], wv = weight[we + j];
            gw[we + j] += square ? g * xv * xv : g * xv;
            if (dx) dx[xi + j] += square ? g * wv * wv : g * wv;
          }
          continue;
        }
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const wv = weight[we + ky * k + kx];
            const wf = square ? wv * wv : wv;
            let s = 0;
            for (let oy = 0; oy < ho; oy++) {
              const yr = yo + oy * wo, xr = xi + (oy + ky) * w + kx;
              if (square) {
                for (let ox = 0; ox < wo; ox++) s += d[yr + ox] * x[xr + ox] * x[xr + ox];
              } else {
                for (let ox = 0; ox < wo; ox++) s += d[yr + ox] * x[xr + ox];
              }
              if (dx) { for (let ox = 0; ox < wo; ox++) dx[xr + ox] += wf * d[yr + ox]; }
            }
            gw[we + ky * k + kx] += s;
          }
        }
      }
    }
  }
}
