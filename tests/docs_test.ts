/**
 * The documents show the lenet5 preset's departures from the paper from one source, the preset's data: the
 * `<!-- deviations -->` block of docs/results.md is what `report/deviations.ts` makes of it (`deno task reproduce
 * --table` writes it), and the other documents link to that block instead of restating it.
 */
import assert from "node:assert/strict";
import { ablationVerdict, decidingAblations, type RunRecord } from "../bench/reproduce.ts";
import { fig9Rows, fig9Table } from "../bench/_fig9.ts";
import { PRESETS } from "../presets/presets.ts";
import { DEVIATIONS_CLOSE, DEVIATIONS_OPEN, deviationsTable, withDeviations } from "../report/deviations.ts";
import type { ShippedModel } from "../web/build.ts";

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

/** A record of docs/runs/ (the fields the checks below read). */
interface RecordFile {
  name: string;
  command: string;
  testError: number;
  trainError: number | null;
  wallSeconds: number | null;
  passesDone: number;
  commit?: string;
  date?: string;
  stamp?: string;
  legacy?: unknown;
  machine?: { cpu?: string };
  passes: { testError: number }[];
}

const record = async (name: string): Promise<RecordFile> => {
  const text = await read(`docs/runs/${name}.json`).catch(() => {
    throw new Error(`docs/runs/${name}.json: no such record`);
  });
  return JSON.parse(text);
};

/** Names a records cell lists: `name`, or `prefix-seedA..B` for seeds A to B. */
function recordNames(cell: string): string[] {
  return [...cell.matchAll(/`([a-z0-9-]+?)(\d+)?(?:\.\.(\d+))?`/g)].flatMap(([, stem, from, to]) =>
    to === undefined
      ? [`${stem}${from ?? ""}`]
      : Array.from({ length: Number(to) - Number(from) + 1 }, (_, i) => `${stem}${Number(from) + i}`)
  );
}

/** A published number needs a run stamped with its commit, day and CPU, and a per-pass history. */
function assertStamped(r: RecordFile, where: string) {
  assert.ok(r.commit && r.date, `${where}: record ${r.name} names no commit and day`);
  assert.ok(!r.stamp && !r.legacy, `${where}: record ${r.name} was not stamped when it ran`);
  assert.ok(r.machine?.cpu && r.machine.cpu !== "not recorded", `${where}: record ${r.name} names no CPU`);
  assert.equal(r.passes.length, r.passesDone, `${where}: record ${r.name} lacks its passes`);
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sdOf = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - meanOf(xs)) ** 2, 0) / (xs.length - 1));

/** Every percentage a set of records supports: each run's errors, and the mean, sd and range over them. */
function supported(rs: RecordFile[]): Set<string> {
  const end = rs.map((r) => r.testError), first = rs.map((r) => r.passes[0].testError);
  const out = new Set([...end, ...first, ...rs.flatMap((r) => (r.trainError === null ? [] : [r.trainError]))].map(pct));
  for (const xs of [end, first]) {
    for (const v of [meanOf(xs), Math.min(...xs), Math.max(...xs)]) out.add(pct(v));
    if (xs.length > 1) out.add(pct(sdOf(xs)));
  }
  return out;
}

Deno.test("every number of the README's results table comes from the records its row names", async () => {
  const text = await read("README.md");
  const section = text.slice(text.indexOf("## Results"), text.indexOf("\n## ", text.indexOf("## Results") + 1));
  const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| recipe") && !/^\| -/.test(l));
  assert.ok(rows.length >= 3, "the README has a results table");
  for (const row of rows) {
    const cells = row.split(" | ");
    const names = recordNames(cells[cells.length - 1]);
    assert.ok(names.length > 0, `README row names no record: ${row}`);
    const rs = await Promise.all(names.map(record));
    rs.forEach((r) => assertStamped(r, "README"));
    const numbers = supported(rs);
    for (const [said] of row.matchAll(/\d+\.\d+%/g)) {
      assert.ok(numbers.has(said), `README row says ${said}, which none of ${names.join(", ")} gives: ${row}`);
    }
    const minutes = new Set(rs.flatMap((r) => (r.wallSeconds === null ? [] : [Math.round(r.wallSeconds / 60)])));
    minutes.add(Math.round(meanOf(rs.map((r) => r.wallSeconds ?? NaN)) / 60));
    for (const [, said] of row.matchAll(/(\d+) min\b/g)) {
      assert.ok(minutes.has(Number(said)), `README row says ${said} min, which none of ${names.join(", ")} took`);
    }
  }
});

Deno.test("models/index.json: each shipped model's test error and command are its record's", async () => {
  const index = JSON.parse(await read("models/index.json")) as {
    name: string;
    record: string;
    testError: number;
    command: string;
    freshSeeds?: { records: string; mean: number; sd: number; min: number; max: number };
  }[];
  for (const m of index) {
    const r = await record(m.record);
    assertStamped(r, `models/index.json ${m.name}`);
    assert.equal(m.testError, r.testError, `${m.name}: test error`);
    assert.ok(m.command.startsWith(`${r.command} `), `${m.name}: "${m.command}" is not "${r.command}" then the export`);
  }
});

Deno.test("models/index.json: lenet5's recipe on fresh seeds is what their records give, and what the README quotes", async () => {
  const index = JSON.parse(await read("models/index.json")) as ShippedModel[];
  const lenet5 = index.find((m) => m.name === "lenet5");
  const fresh = lenet5?.freshSeeds;
  assert.ok(fresh, "models/index.json: lenet5 has no freshSeeds");
  const names = recordNames(`\`${fresh.records}\``);
  assert.ok(
    names.length >= 20 && names.every((n) => n.startsWith("fresh-seed")),
    `freshSeeds.records: ${fresh.records}`,
  );
  const rs = await Promise.all(names.map(record));
  const shipped = await record(lenet5.record);
  for (const r of rs) {
    assertStamped(r, "models/index.json lenet5 freshSeeds");
    assert.equal(r.passesDone, 20, `${r.name}: ${r.passesDone} passes`);
    assert.equal(
      r.command.replace(/ --seed \d+$/, ""),
      shipped.command.replace(/ --seed \d+$/, ""),
      `${r.name}'s command`,
    );
  }
  const errors = rs.map((r) => r.testError);
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  assert.deepEqual(
    { mean: fresh.mean, sd: fresh.sd, min: fresh.min, max: fresh.max },
    { mean: round(meanOf(errors)), sd: round(sdOf(errors)), min: Math.min(...errors), max: Math.max(...errors) },
  );
  const readme = await read("README.md");
  assert.ok(readme.includes(`\`${fresh.records}\``), `the README's results table does not quote ${fresh.records}`);
});

Deno.test("each departure of the default paid for itself in the ablation on seeds 0-9, and says by how much", async () => {
  const records = new Map<string, RunRecord>();
  for await (const f of Deno.readDir(new URL("../docs/runs/", import.meta.url))) {
    if (f.name.startsWith("appc-")) {
      records.set(f.name.replace(/\.json$/, ""), JSON.parse(await read(`docs/runs/${f.name}`)));
    }
  }
  for (const a of decidingAblations()) {
    const verdict = ablationVerdict(a.name, records);
    const d = deviations.find((d) => d.setting === a.setting);
    if (!verdict) {
      // Not all ten runs recorded yet: the departure may stand only as one that says so.
      assert.ok(
        d?.why.includes("not re-measured"),
        `the ablation "${a.name}" lacks records, and ${d?.setting} says not`,
      );
      continue;
    }
    if (!verdict.keep) {
      assert.equal(d, undefined, `the rule drops ${d?.setting} (${verdict.why}), yet the default keeps it`);
      continue;
    }
    assert.ok(d, `the rule keeps ${a.setting} (${verdict.why}), yet the default lacks it`);
    assert.ok(words(d.why).includes(verdict.why), `${d.setting}'s reason does not say "${verdict.why}": ${d.why}`);
  }
});

Deno.test("docs/fig9.md's table is the one its records give", async () => {
  const records = new Map<string, RecordFile & { testErrorByK?: number[] }>();
  for await (const f of Deno.readDir(new URL("../docs/runs/", import.meta.url))) {
    if (f.name.endsWith(".json")) {
      records.set(f.name.replace(/\.json$/, ""), JSON.parse(await read(`docs/runs/${f.name}`)));
    }
  }
  const text = await read("docs/fig9.md");
  const block = text.slice(text.indexOf("<!-- table:fig9 -->"), text.indexOf("<!-- /table -->"));
  const cells = (table: string) =>
    table.split("\n").filter((l) => l.startsWith("|") && !/^\|[\s-|]+$/.test(l)).map((l) =>
      l.split("|").map((c) => c.trim())
    );
  assert.deepEqual(cells(block), cells(fig9Table(records)), "docs/fig9.md is stale: run `deno task reproduce --table`");
  for (const name of fig9Rows().flatMap((r) => r.records)) {
    if (records.has(name)) assertStamped(records.get(name)!, "docs/fig9.md");
  }
});
