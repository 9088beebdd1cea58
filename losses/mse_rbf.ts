/**
 * mse-rbf: the paper's simpler criterion, the distance of the correct RBF unit
 * alone: E = y_D. It has no term that keeps the codes apart, which is fine
 * here because the codes are fixed.
 *
 * dE/dy_i = [i = D]; the second derivative with respect to y is 0 (the RBF
 * layer contributes the curvature of its squares).
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { LossPlugin } from "../engine/types.ts";
import { softmax } from "./_softmax.ts";

/** The `mse-rbf` loss: the distance of the correct RBF unit alone, E = y_D. No config. */
export const mseRbfLoss: LossPlugin<Record<never, never>> = {
  type: "mse-rbf",
  description: "distance of the correct RBF unit, E = y_D (the paper's MSE criterion)",
  configure(raw, _scores, where) {
    new ConfigReader(raw, where, ["type"]).done();
    return {};
  },
  forward(_c, y, labels, n, k) {
    let total = 0;
    for (let b = 0; b < n; b++) total += y[b * k + labels[b]];
    return total;
  },
  backward(_c, _y, labels, n, k, scale, dy) {
    for (let b = 0; b < n; b++) dy[b * k + labels[b]] += scale;
  },
  backward2() {
    // d2E/dy^2 = 0: E is linear in the distances.
  },
  probabilities(_c, y, n, k, out) {
    for (let b = 0; b < n; b++) softmax(y, b * k, k, -1, -Infinity, out, b * k);
  },
};
