/**
 * Per-layer kernels of the faithful LeNet-5 (batch 1 and 32) and of the
 * modern variant (batch 32): the layer plugins' JS kernels, the WebAssembly
 * SIMD kernels of the wasm backend where a layer has them, and the reference
 * convolution kernels the fast ones replace; then whole training steps on
 * both backends: the paper's (one pattern, SDLM) and the modern one (32
 * patterns, Adam). Run with `deno task bench`.
 */
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { createWasmKernels } from "../engine/wasm/backend.ts";
import type { Layer } from "../engine/types.ts";
import { type Conv2dConfig, referenceBackward, referenceForward } from "../layers/conv2d.ts";
import { PRESETS } from "../presets/presets.ts";

const rng = new Rng(1);

for (const [preset, batch] of [["lenet5", 1], ["lenet5", 32], ["lenet5-modern", 32]] as const) {
  const wasm = createWasmKernels();
  const model = buildModel(PRESETS[preset].graph, { registry: defaultRegistry, seed: 1, kernels: wasm });
  const x = new Float32Array(batch * model.inputSize).map(() => rng.uniform(-0.1, 1.175));
  const labels = Uint8Array.from({ length: batch }, (_, i) => i % 10);
  model.forward(x, batch);
  model.backward(labels);
  const tag = `${preset}, batch ${batch}`;
  for (let i = 0; i < model.layers.length; i++) {
    const l = model.layers[i];
    // Buffers in the wasm backend's memory, which the JS kernels use as well.
    const xin = model.activation(i - 1), y = wasm.floats(batch * l.outSize);
    y.set(model.activation(i));
    const dy = wasm.floats(y.length).fill(0.01), dx = wasm.floats(xin.length);
    const back = i > 0 ? dx : null;
    const benches = (which: string, forward: () => void, backward: () => void) => {
      Deno.bench(`${l.name} ${which}forward, ${tag}`, { group: `forward ${tag}` }, forward);
      Deno.bench(`${l.name} ${which}backward, ${tag}`, { group: `backward ${tag}` }, backward);
    };
    benches(`(${l.type}) `, () => l.plugin.forward(l, xin, y, batch), () => {
      l.plugin.backward(l, xin, y, dy, back, l.grads, batch);
    });
    const own = defaultRegistry.kernels.get(l.type, wasm.name)?.kernelFunc(l, wasm);
    if (own?.forward && own.backward) {
      const { forward, backward } = own;
      benches(
        `(${l.type}) wasm `,
        () => forward(l, xin, y, batch),
        () => backward(l, xin, y, dy, back, l.grads, batch),
      );
    }
    if (l.type === "conv2d" && preset === "lenet5" && batch === 1) {
      const c = l as Layer<Conv2dConfig>;
      benches("reference ", () => referenceForward(c, xin, y, batch), () => {
        referenceBackward(c, xin, y, dy, back, l.grads, batch);
      });
    }
  }
}

for (const [preset, batch] of [["lenet5", 1], ["lenet5-modern", 32]] as const) {
  for (const kernels of ["js", "wasm"] as const) {
    const p = PRESETS[preset];
    const model = buildModel(p.graph, { registry: defaultRegistry, seed: 1, kernels });
    const x = new Float32Array(128 * model.inputSize).map(() => rng.uniform(-0.1, 1.175));
    const labels = Uint8Array.from({ length: 128 }, (_, i) => i % 10);
    const opt = createOptimizer(p.optimizer, model, defaultRegistry);
    if (opt.plugin.needsCurvature) estimateCurvature(model, x, labels, 100);
    let s = 0;
    const size = model.inputSize, lr = p.schedule?.[0];
    const name = `${preset} training step (${batch} pattern(s), ${p.optimizer.type}), ${kernels} kernels`;
    Deno.bench(name, { group: `step ${preset}` }, () => {
      trainStep(model, opt, x.subarray(s * size, (s + batch) * size), labels.subarray(s, s + batch), batch, lr);
      s = (s + batch) % (128 - batch + 1);
    });
  }
}
