/**
 * Finding parameters that are not finite numbers (NaN or +-Infinity): a
 * diverged run's weights, or a model file that holds them.
 *
 * @module
 */
import type { Model } from "./model.ts";

/** Where the first non-finite parameter of a model sits. */
export interface NonFiniteParam {
  /** The layer's name, e.g. "c1". */
  readonly layer: string;
  /** The parameter's name within the layer, e.g. "weight". */
  readonly param: string;
  /** Index within that parameter tensor. */
  readonly index: number;
  /** The value found there: NaN, Infinity or -Infinity. */
  readonly value: number;
}

/**
 * The first parameter of `model` that is NaN or infinite, or null when all are finite.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { firstNonFinite } from "./finite.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * model.layers[0].params[0][7] = NaN;
 * const bad = firstNonFinite(model);
 * if (bad?.layer !== model.layers[0].name || bad.index !== 7) throw new Error("not found");
 * ```
 */
export function firstNonFinite(model: Model): NonFiniteParam | null {
  // A sum is finite only when every term is: one cheap pass over everything, the search only on failure.
  let sum = 0;
  const p = model.params;
  for (let i = 0; i < p.length; i++) sum += p[i] * 0;
  if (sum === 0) return null;
  for (const l of model.layers) {
    for (let k = 0; k < l.params.length; k++) {
      const v = l.params[k];
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) return { layer: l.name, param: l.specs[k].name, index: i, value: v[i] };
      }
    }
  }
  return null;
}

/** "parameter c1.weight[7] is NaN": the place, for messages. */
export function describeNonFinite(bad: NonFiniteParam): string {
  return `parameter ${bad.layer}.${bad.param}[${bad.index}] (layer "${bad.layer}", index ${bad.index}) is ${bad.value}`;
}
