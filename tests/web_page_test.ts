/**
 * The page's pictures and refusals (issue 26) in a real Chromium (Debian's,
 * driven by playwright-core in its own process, tests/_web_page_browser.ts):
 * the Fig. 3 view holds F6's 84 outputs as onnxruntime computes them and the
 * preset's 7x12 codes of the two best digits, pixel for pixel and the same way
 * round; the pad after Clear, a blank image and an all-white picture get no
 * answer; a dropped model that fails (not JSON, not ONNX, weights that
 * overflow) is refused naming its file, and the model in use stays.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { loadModel } from "../engine/model_file.ts";
import { modelToJSON } from "../engine/model_json.ts";
import { exportOnnx, intermediateName } from "../export/onnx.ts";
import { parseCode } from "../layers/rbf.ts";
import { RBF_CODES } from "../presets/lenet5_data.ts";
import { encodePng } from "../report/png.ts";
import { shippedModels } from "../web/build.ts";
import { startServer } from "../web/server.ts";
import { withTempDir } from "./_files.ts";
import { deno, ROOT } from "./_task.ts";

const hasChromium = await Deno.stat("/usr/bin/chromium").then(() => true, () => false);

interface Figure {
  caption: string;
  width: number;
  height: number;
  grey: number[];
}
interface Shown {
  digit: string;
  bars: number;
  f6: number;
  status: string;
  last: { class: number; model: string } | null;
}
interface Report {
  errors: string[];
  digit: { input: number[]; class: number; probabilities: number[]; model: string };
  figures: Figure[];
  drawn: Shown;
  cleared: Shown;
  blank: string;
  white: Shown;
  before: { selected: string; count: number };
  refused: Record<string, { status: string; picker: { selected: string; count: number }; model: string }>;
  good: { picker: { selected: string; count: number }; answer: { class: number; model: string } };
}

/** The grey level web/app.ts draws for `v` on the scale lo..hi. */
const greyOf = (v: number, lo: number, hi: number) => Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));

Deno.test({
  name:
    "web: the page's Fig. 3 view holds F6's outputs and the codes, and blank pictures and failing models get no answer",
  ignore: !hasChromium,
  async fn() {
    await withTempDir(async (dir) => {
      const shipped = (await shippedModels())[0];
      const model = await loadModel(join(ROOT, "models", shipped.model), defaultRegistry);
      const { test } = await loadMnist();
      const image = test.images.subarray(0, 784);
      await Deno.writeTextFile(join(dir, "digit.json"), JSON.stringify(Array.from(image)));
      const files = join(dir, "files");
      await Deno.mkdir(files);
      await Deno.writeFile(join(files, "white.png"), await encodePng(new Uint8Array(64 * 64).fill(255), 64, 64, 1));
      await Deno.writeTextFile(join(files, "bad.json"), "{not json");
      await Deno.writeFile(join(files, "bad.onnx"), Uint8Array.from({ length: 500 }, (_, i) => (i * 37) % 251));
      const good = modelToJSON(model);
      await Deno.writeTextFile(join(files, "good.json"), JSON.stringify(good));
      // Finite weights whose sums overflow float32: every score is Infinity or NaN.
      const huge = await loadModel(join(ROOT, "models", shipped.model), defaultRegistry);
      huge.params.fill(3e38);
      await Deno.writeTextFile(join(files, "overflow.json"), JSON.stringify(modelToJSON(huge)));

      const site = join(dir, "site");
      const server = await startServer({ port: 0, site, quiet: true });
      let r: Report;
      try {
        const browser = join(ROOT, "tests", "_web_page_browser.ts");
        const out = await deno(["run", "-A", browser, server.url, join(dir, "digit.json"), files], {
          signal: AbortSignal.timeout(240_000), // a hang fails the test instead of stalling the suite
        });
        assert.equal(out.code, 0, out.stderr);
        r = JSON.parse(out.stdout);
      } finally {
        await server.close();
      }
      assert.deepEqual(r.errors, [], "no console errors");

      // F6 as onnxruntime computes it for the same image, drawn 7 wide and 12 high, row by row.
      ort.env.wasm.numThreads = 1;
      const session = await ort.InferenceSession.create(exportOnnx(model, { rawInput: "uint8", intermediates: true }));
      const out = await session.run({ image: new ort.Tensor("uint8", Uint8Array.from(r.digit.input), [1, 28, 28]) });
      await session.release();
      const f6 = out[intermediateName("F6")].data as Float32Array;
      const [f6Figure, best, second] = r.figures;
      assert.equal(f6Figure.caption, "F6's 84 outputs (7x12)");
      assert.deepEqual([f6Figure.width, f6Figure.height], [7, 12]);
      const off = f6Figure.grey.filter((g, j) => Math.abs(g - greyOf(f6[j], -1.7, 1.7)) > 1).length;
      assert.equal(off, 0, `${off} of F6's 84 pixels differ from its outputs`);

      // The codes of the answer and the runner-up: exactly the preset's, +1 white and -1 black.
      const order = r.digit.probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]).map(([, d]) => d);
      assert.equal(r.digit.class, test.labels[0], "the test digit is read right");
      assert.equal(best.caption, `code of ${order[0]} (the answer)`);
      assert.equal(second.caption, `code of ${order[1]} (runner-up)`);
      for (const [figure, d] of [[best, order[0]], [second, order[1]]] as const) {
        assert.deepEqual([figure.width, figure.height], [7, 12]);
        assert.deepEqual(figure.grey, parseCode(RBF_CODES[d])!.map((v) => greyOf(v, -1, 1)), `code of ${d}`);
      }

      // Nothing drawn, nothing answered.
      assert.notEqual(r.drawn.digit, "–", "a stroke gets an answer");
      assert.equal(r.drawn.bars, 11);
      assert.deepEqual(
        [r.cleared.digit, r.cleared.bars, r.cleared.f6, r.cleared.last],
        ["–", 0, 0, null],
        "after Clear the page shows no answer",
      );
      assert.match(r.cleared.status, /draw a digit/);
      assert.match(r.blank, /holds no ink/);
      assert.match(r.white.status, /^error: Cannot read "white\.png": it holds no ink/);
      assert.deepEqual([r.white.digit, r.white.bars, r.white.last], ["–", 0, null]);

      // Failing models are refused by name; the picker and the model in use stay as they were.
      const messages: Record<string, RegExp> = {
        "bad.json": /^error: Cannot load "bad\.json": it is not JSON/,
        "bad.onnx": /^error: Cannot use your model "bad\.onnx": /,
        "overflow.json": /^error: Cannot trust your model overflow\.json: its score for digit \d is (Infinity|NaN)/,
      };
      for (const [name, message] of Object.entries(messages)) {
        assert.match(r.refused[name].status, message, name);
        assert.deepEqual(r.refused[name].picker, r.before, `${name}: the picker is unchanged`);
        assert.equal(r.refused[name].model, shipped.name, `${name}: the next drawing is read by ${shipped.name}`);
      }
      assert.deepEqual(r.good.picker, { selected: "your model good.json", count: r.before.count + 1 });
      assert.equal(r.good.answer.model, "good.json");
      assert.equal(r.good.answer.class, r.digit.class, "the same weights give the same answer");
    });
  },
});
