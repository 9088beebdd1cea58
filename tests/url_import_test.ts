/**
 * mod.ts is importable by URL: the repository is served on 127.0.0.1 and a
 * separate Deno process, with no config and an empty cache, imports
 * http://127.0.0.1:PORT/mod.ts, builds lenet5 and runs a forward pass on the
 * WebAssembly kernels. Its scores must equal the ones computed here from the
 * same seed.
 */
import assert from "node:assert/strict";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
import { deno } from "./_task.ts";

const ROOT = normalize(join(fileURLToPath(import.meta.url), "..", ".."));

Deno.test("mod.ts imports by http:// URL in a separate Deno process and runs lenet5", async () => {
  const requested: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    requested.push(path);
    const file = normalize(join(ROOT, path));
    if (!file.startsWith(ROOT + "/") || !file.endsWith(".ts")) return new Response("not found", { status: 404 });
    try {
      return new Response(await Deno.readFile(file), { headers: { "content-type": "application/typescript" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const tmp = await Deno.makeTempDir({ prefix: "lenet5-url-" });
  try {
    const { port } = server.addr;
    const script = join(tmp, "client.ts");
    await Deno.writeTextFile(
      script,
      `import { buildModel, defaultRegistry, PRESETS } from "http://127.0.0.1:${port}/mod.ts";
const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 5 });
const x = new Float32Array(2 * 32 * 32).map((_, i) => Math.sin(i) * 0.6);
const scores = model.forward(x, 2);
console.log(JSON.stringify({ trainable: model.counts().trainable, kernels: model.kernels, scores: Array.from(scores) }));
`,
    );
    const out = await deno(["run", "--no-config", "--no-lock", `--allow-import=127.0.0.1:${port}`, script], {
      cwd: tmp,
      env: { DENO_DIR: join(tmp, "deno_dir"), NO_COLOR: "1" },
    });
    assert.equal(out.code, 0, out.stderr);
    const got = JSON.parse(out.stdout);
    assert.equal(got.trainable, 60_000);
    // The WebAssembly kernels load from the URL import too (the module is a .ts file of base64).
    assert.equal(got.kernels, "wasm");
    const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 5 });
    assert.equal(model.kernels, "wasm");
    const expected = model.forward(new Float32Array(2 * 32 * 32).map((_, i) => Math.sin(i) * 0.6), 2);
    assert.deepEqual(got.scores, Array.from(expected));
    assert.ok(requested.includes("/mod.ts") && requested.includes("/layers/conv2d.ts"));
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});
