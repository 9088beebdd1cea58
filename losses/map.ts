/**
 * map: the maximum a posteriori criterion of section II-C (eq. 9), on RBF
 * distances y:
 *
 *   E = y_D + log( exp(-j) + sum_i exp(-y_i) )
 *
 * The first term pulls the correct unit's distance down; the second pushes the
 * others up. j is the "rubbish class" constant; the paper gives no value, so
 * it is the option `j` (default 0.1).
 *
 * Derivatives: dE/dy_i = [i = D] - p_i with p_i = exp(-y_i) / (exp(-j) + sum_k exp(-y_k));
 * the diagonal second derivative is p_i (1 - p_i).
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { LossPlugin } from "../engine/types.ts";
import { softmax } from "./_softmax.ts";

/** Config of the MAP criterion. */
export interface MapConfig {
  /** The rubbish-class constant j of eq. 9, >= 0 (default {@linkcode DEFAULT_MAP_J}). */
  readonly j: number;
}

/** Default rubbish-class constant j of the MAP loss. */
export const DEFAULT_MAP_J = 0.1;

/** The `map` loss: the paper's MAP criterion on RBF distances, E = y_D + log(exp(-j) + sum_i exp(-y_i)). */
export const mapLoss: LossPlugin<MapConfig> = {
  type: "map",
  description: "maximum a posteriori criterion on RBF distances (eq. 9), option j",

  configure(raw, _scores, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const j = r.number("j", { min: 0, fallback: DEFAULT_MAP_J });
    r.done();
    return { j };
  },

  forward(c, y, labels, n, k) {
    const p = new Float64Array(k);
    let total = 0;
    for (let b = 0; b < n; b++) {
      total += y[b * k + labels[b]] + softmax(y, b * k, k, -1, -c.j, p, 0);
    }
    return total;
  },

  backward(c, y, labels, n, k, scale, dy) {
    const p = new Float64Array(k);
    for (let b = 0; b < n; b++) {
      softmax(y, b * k, k, -1, -c.j, p, 0);
      for (let i = 0; i < k; i++) dy[b * k + i] -= scale * p[i];
      dy[b * k + labels[b]] += scale;
    }
  },

  backward2(c, y, _labels, n, k, scale, d2y) {
    const p = new Float64Array(k);
    for (let b = 0; b < n; b++) {
      softmax(y, b * k, k, -1, -c.j, p, 0);
      for (let i = 0; i < k; i++) d2y[b * k + i] += scale * p[i] * (1 - p[i]);
    }
  },

  probabilities(_c, y, n, k, out) {
    for (let b = 0; b < n; b++) softmax(y, b * k, k, -1, -Infinity, out, b * k);
  },
};
