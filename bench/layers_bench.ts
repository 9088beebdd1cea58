/**
 * Per-layer kernels of the faithful LeNet-5 (batch 1 and 32), and one whole
 * training step as the paper takes it (one pattern, SDLM). Run with
 * `deno task bench`.
 */
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";

const rng = new Rng(1);

for (const batch of [1, 32]) {
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
  const x = new Float32Array(batch * model.inputSize).map(() => rng.uniform(-0.1, 1.175));
  const labels = Uint8Array.from({ length: batch }, (_, i) => i % 10);
  model.forward(x, batch);
  model.backward(labels);
  for (let i = 0; i < model.layers.length; i++) {
    const l = model.layers[i];
    const xin = model.activation(i - 1), y = model.activation(i).slice();
    const dy = new Float32Array(y.length).fill(0.01), dx = new Float32Array(xin.length);
    Deno.bench(`${l.name} (${l.type}) forward, batch ${batch}`, { group: `forward-${batch}` }, () => {
      l.plugin.forward(l, xin, y, batch);
    });
    Deno.bench(`${l.name} (${l.type}) backward, batch ${batch}`, { group: `backward-${batch}` }, () => {
      l.plugin.backward(l, xin, y, dy, dx, l.grads, batch);
    });
  }
}

{
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
  const x = new Float32Array(100 * model.inputSize).map(() => rng.uniform(-0.1, 1.175));
  const labels = Uint8Array.from({ length: 100 }, (_, i) => i % 10);
  const opt = createOptimizer(PRESETS.lenet5.optimizer, model, defaultRegistry);
  estimateCurvature(model, x, labels, 100);
  let s = 0;
  Deno.bench("lenet5 training step (1 pattern, SDLM)", { group: "step" }, () => {
    trainStep(model, opt, x.subarray(s * 1024, (s + 1) * 1024), labels.subarray(s, s + 1), 1, 1e-5);
    s = (s + 1) % 100;
  });
}
