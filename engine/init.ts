/**
 * Weight initialisation schemes, by name.
 *
 * `paper` is LeCun et al. 1998, appendix A: weights and biases uniform in
 * [-2.4/F, +2.4/F], F the fan-in of the unit. `mean` starts a subsampling
 * layer as plain averaging. The others are the usual modern choices; they set
 * biases to zero.
 *
 * @module
 */
import type { Floats, Initializer, InitUnit, RandomSource } from "./types.ts";

function uniform(out: Floats, bound: number, rng: RandomSource): void {
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * bound;
}

function normal(out: Floats, std: number, rng: RandomSource): void {
  for (let i = 0; i < out.length; i++) {
    const u = 1 - rng.next();
    const v = rng.next();
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function modern(weights: (out: Floats, u: InitUnit, rng: RandomSource) => void): Initializer {
  return (out, unit, rng) => unit.role === "bias" ? out.fill(0) : weights(out, unit, rng);
}

/** The registered init schemes. */
export const INITIALIZERS: Readonly<Record<string, Initializer>> = {
  /** Uniform in +-2.4/F_i for weights and biases (the paper). */
  paper: (out, unit, rng) => uniform(out, 2.4 / unit.fanIn, rng),
  /**
   * Uniform in +-2.4/sqrt(F_i) for weights and biases: the paper's bound over
   * the square root of the fan-in (the scale LeCun's "Efficient BackProp"
   * recommends); an option, not the paper's text.
   */
  "paper-sqrt": (out, unit, rng) => uniform(out, 2.4 / Math.sqrt(unit.fanIn), rng),
  /**
   * Weights 1/F_i and biases 0, for LeNet-5's subsampling layers: each unit
   * starts as the plain mean of its block (2x2 averaging), where a uniform
   * draw would leave some maps near 0 and others saturated. It takes one draw
   * per value all the same, as `paper` and `paper-sqrt` do, so that every
   * other layer starts as it would under those.
   */
  mean: (out, unit, rng) => {
    uniform(out, 1, rng);
    out.fill(unit.role === "bias" ? 0 : 1 / unit.fanIn);
  },
  /** He (Kaiming) uniform, for ReLU: +-sqrt(6/F_in). */
  "he-uniform": modern((out, u, rng) => uniform(out, Math.sqrt(6 / u.fanIn), rng)),
  /** He (Kaiming) normal, for ReLU: std sqrt(2/F_in). */
  "he-normal": modern((out, u, rng) => normal(out, Math.sqrt(2 / u.fanIn), rng)),
  /** Glorot (Xavier) uniform: +-sqrt(6/(F_in + F_out)). */
  "glorot-uniform": modern((out, u, rng) => uniform(out, Math.sqrt(6 / (u.fanIn + u.fanOut)), rng)),
  /** LeCun normal: std sqrt(1/F_in). */
  "lecun-normal": modern((out, u, rng) => normal(out, Math.sqrt(1 / u.fanIn), rng)),
};

/** Names of the init schemes. */
export const INIT_NAMES: readonly string[] = Object.keys(INITIALIZERS);
