/**
 * The documents show the lenet5 preset's departures from the paper from one source, the preset's data: the
 * `<!-- deviations -->` block of docs/results.md is what `report/deviations.ts` makes of it (`deno task reproduce
 * --table` writes it), and the other documents link to that block instead of restating it.
 */
import assert from "node:assert/strict";
import { PRESETS } from "../presets/presets.ts";
import { DEVIATIONS_CLOSE, DEVIATIONS_OPEN, deviationsTable, withDeviations } from "../report/deviations.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));
const deviations = PRESETS.lenet5.deviations ?? [];
/** Words only: a restatement is found however the prose around it is wrapped. */
const words = (text: string) => text.replace(/\s+/g, " ");

Deno.test("docs/results.md's deviations block is the table the lenet5 preset's data gives", async () => {
  const text = await read("docs/results.md");
  assert.equal(text.split(DEVIATIONS_OPEN).length, 2, `one ${DEVIATIONS_OPEN} block`);
  assert.equal(text.split(DEVIATIONS_CLOSE).length, 2, `one ${DEVIATIONS_CLOSE} marker`);
  assert.equal(
    text,
    withDeviations(text, deviationsTable(deviations)),
    "docs/results.md's deviations block differs from presets/presets.ts: run `deno task reproduce --table`",
  );
});

Deno.test("README.md, docs/usage.md and docs/architecture.md do not restate the deviations", async () => {
  for (const path of ["README.md", "docs/usage.md", "docs/architecture.md"]) {
    const text = words(await read(path));
    for (const d of deviations) {
      for (const said of [d.why, d.paper, d.here].filter((s) => s.length > 30)) {
        assert.equal(text.includes(words(said)), false, `${path} restates the ${d.setting} deviation: "${said}"`);
      }
    }
  }
});
