/**
 * softmax-cross-entropy: E = -log softmax(z)_D on logits z (the modern
 * variant). dE/dz = p - onehot(D); the diagonal second derivative is p (1 - p).
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { LossPlugin } from "../engine/types.ts";
import { softmax } from "./_softmax.ts";

/** The `softmax-cross-entropy` loss: E = -log softmax(z)_D on logits z. No config. */
export const softmaxCrossEntropyLoss: LossPlugin<Record<never, never>> = {
  type: "softmax-cross-entropy",
  description: "softmax over logits, then negative log-likelihood of the label",
  configure(raw, _scores, where) {
    new ConfigReader(raw, where, ["type"]).done();
    return {};
  },
  forward(_c, z, labels, n, k) {
    const p = new Float64Array(k);
    let total = 0;
    for (let b = 0; b < n; b++) total += softmax(z, b * k, k, 1, -Infinity, p, 0) - z[b * k + labels[b]];
    return total;
  },
  backward(_c, z, labels, n, k, scale, dz) {
    const p = new Float64Array(k);
    for (let b = 0; b < n; b++) {
      softmax(z, b * k, k, 1, -Infinity, p, 0);
      for (let i = 0; i < k; i++) dz[b * k + i] += scale * p[i];
      dz[b * k + labels[b]] -= scale;
    }
  },
  backward2(_c, z, _labels, n, k, scale, d2z) {
    const p = new Float64Array(k);
    for (let b = 0; b < n; b++) {
      softmax(z, b * k, k, 1, -Infinity, p, 0);
      for (let i = 0; i < k; i++) d2z[b * k + i] += scale * p[i] * (1 - p[i]);
    }
  },
  probabilities(_c, z, n, k, out) {
    for (let b = 0; b < n; b++) softmax(z, b * k, k, 1, -Infinity, out, b * k);
  },
};
