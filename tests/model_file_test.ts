/** Saving and loading a model: bit-exact, atomic, and clear about bad files. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { loadModel, MODEL_FORMAT, saveModel } from "../engine/model_file.ts";
import { PRESETS } from "../presets/presets.ts";
import { bytes } from "./_helpers.ts";
import { withTempDir } from "./_files.ts";

Deno.test("model file: save then load gives the same graph and the same bits, leaving no temporary file", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 9 });
    model.params[0] = Math.PI; // a value that is not an init value
    const path = join(dir, "model.json");
    await saveModel(path, model);
    const back = await loadModel(path, defaultRegistry);
    assert.deepEqual(bytes(back.params), bytes(model.params));
    assert.deepEqual(back.graph, JSON.parse(JSON.stringify(model.graph)));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.json"]);
    // Saving again over it replaces the file whole.
    model.params[0] = 1;
    await saveModel(path, model);
    assert.equal((await loadModel(path, defaultRegistry)).params[0], 1);
  });
});

Deno.test("model file: bad files name the file and the problem", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "m.json");
    await assert.rejects(loadModel(join(dir, "missing.json"), defaultRegistry), {
      message: `Cannot read "${join(dir, "missing.json")}": no such file`,
    });
    await Deno.writeTextFile(path, "{ not json");
    await assert.rejects(
      loadModel(path, defaultRegistry),
      (e: Error) => e.message.startsWith(`Cannot parse "${path}": `),
    );
    await Deno.writeTextFile(path, JSON.stringify({ format: "other" }));
    await assert.rejects(loadModel(path, defaultRegistry), {
      message: `Cannot load "${path}": field "format" must be "${MODEL_FORMAT}", got "other"`,
    });
    const model = buildModel(PRESETS["lenet5-modern"].graph, { registry: defaultRegistry });
    await saveModel(path, model);
    const data = JSON.parse(await Deno.readTextFile(path));
    await Deno.writeTextFile(path, JSON.stringify({ ...data, params: data.params.slice(0, 400) }));
    await assert.rejects(loadModel(path, defaultRegistry), {
      message: `Cannot load "${path}": field "params": holds 300 bytes, expected ${model.params.length * 4}`,
    });
  });
});
