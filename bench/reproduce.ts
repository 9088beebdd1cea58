/**
 * The long reproduction runs behind the README's results table: each recipe
 * is one `deno task train` command with its own run folder under runs/. Runs
 * that already finished are not repeated (their summary.json is read), and a
 * stopped one is resumed. Prints the results as a Markdown table.
 *
 *   deno run -A bench/reproduce.ts                 # every recipe, one after the other
 *   deno run -A bench/reproduce.ts faithful modern # some of them, by name
 *   deno run -A bench/reproduce.ts --table         # only print the table of what has run
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

interface Recipe {
  readonly name: string;
  readonly what: string;
  readonly args: readonly string[];
}

/** The recipes, in the order of the README's table. */
export const RECIPES: readonly Recipe[] = [
  { name: "faithful", what: "lenet5 as specified (init +-2.4/F_i, SDLM, paper's eta)", args: [] },
  { name: "sqrt", what: "lenet5, init +-2.4/sqrt(F_i)", args: ["--init", "paper-sqrt"] },
  {
    name: "sqrt-eta02",
    what: "lenet5, init +-2.4/sqrt(F_i), eta schedule x0.2",
    args: ["--init", "paper-sqrt", "--eta-scale", "0.2"],
  },
  {
    name: "sqrt-mem09",
    what: "lenet5, init +-2.4/sqrt(F_i), paper's eta, 0.9 of h_kk kept each pass",
    args: ["--init", "paper-sqrt", "--curvature-memory", "0.9"],
  },
  {
    name: "sqrt-mem09-j10",
    what: "the same with the MAP loss's j = 10",
    args: ["--init", "paper-sqrt", "--curvature-memory", "0.9", "--j", "10"],
  },
  {
    name: "distort",
    what: "lenet5, init +-2.4/sqrt(F_i), eta x0.2, distortions",
    args: ["--init", "paper-sqrt", "--eta-scale", "0.2", "--distort"],
  },
  {
    name: "distort-mem09-j10",
    what: "lenet5, init +-2.4/sqrt(F_i), paper's eta, 0.9 of h_kk kept, j = 10, distortions",
    args: ["--init", "paper-sqrt", "--curvature-memory", "0.9", "--j", "10", "--distort"],
  },
  {
    // Three times the updates: each eta of the paper's schedule lasts three passes, and 0.965^3 = 0.9 of h_kk is kept
    // over three re-estimates, as 0.9 over one in the 20-pass recipe.
    name: "distort-long",
    what: "the same over 60 passes, each eta three times as long, 0.965 of h_kk kept",
    args: [
      ...["--init", "paper-sqrt", "--curvature-memory", "0.965", "--j", "10", "--distort", "--epochs", "60"],
      ...["--schedule", "0.0005x6,0.0002x9,0.0001x9,0.00005x12,0.00001"],
    ],
  },
  {
    name: "modern",
    what: "lenet5-modern (Adam 0.001 stepped down, batch 32, 10 passes)",
    args: ["--preset", "lenet5-modern"],
  },
  {
    name: "modern-sgd",
    what: "lenet5-modern, SGD lr 0.1, batch 128, 2,500 steps, new order each pass",
    args: [
      ...["--preset", "lenet5-modern", "--optimizer", "sgd", "--lr", "0.1", "--batch", "128", "--steps", "2500"],
      "--shuffle",
    ],
  },
];

const dirOf = (r: Recipe) => join("runs", `reproduce-${r.name}`);

async function readSummary(dir: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function run(recipe: Recipe): Promise<void> {
  const dir = dirOf(recipe);
  const done = await readSummary(dir);
  const resume = done !== null;
  if (done && done.passesDone === (done.settings as { passes: number }).passes) return;
  const args = resume ? ["--resume", dir] : [...recipe.args, "--out", dir];
  console.log(`\n== ${recipe.name}: deno task train ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", new URL("../cli/train.ts", import.meta.url).pathname, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  if (!status.success) throw new Error(`Recipe ${recipe.name} failed (exit ${status.code})`);
}

const pct = (x: unknown) => (typeof x === "number" ? `${(100 * x).toFixed(2)}%` : "-");

async function table(): Promise<string> {
  const lines = [
    "| recipe | command | passes | training error | training error during pass 19 | test error | best test error (pass) | SDLM steps, pass 1 | wall time |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of RECIPES) {
    const s = await readSummary(dirOf(r));
    if (!s) continue;
    const passes = s.passes as {
      pass: number;
      testError: number;
      runningError?: number;
      stepRange?: [number, number];
    }[];
    // The paper measured its training error on the fly: pass 19's running error is its 0.35%.
    const during19 = (s.settings as { passes: number }).passes === 20
      ? passes.find((p) => p.pass === 19)?.runningError
      : undefined;
    const steps = passes[0]?.stepRange?.map((x) => x.toExponential(1)).join(" .. ") ?? "-";
    const best = passes.reduce((a, b) => (b.testError < a.testError ? b : a), passes[0]);
    const minutes = ((s.wallSeconds as number) / 60).toFixed(0);
    lines.push(
      `| ${r.what} | \`${["deno task train", ...r.args].join(" ")}\` | ${s.passesDone} | ${pct(s.trainError)} | ${
        pct(during19)
      } | ${pct(s.testError)} | ${best ? `${pct(best.testError)} (${best.pass})` : "-"} | ${steps} | ${minutes} min |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { table: { type: "boolean" } }, allowPositionals: true });
  const unknown = positionals.filter((p) => !RECIPES.some((r) => r.name === p));
  if (unknown.length) {
    console.error(`Unknown recipe ${unknown.join(", ")}; recipes: ${RECIPES.map((r) => r.name).join(", ")}`);
    Deno.exit(2);
  }
  if (!values.table) {
    for (const r of RECIPES.filter((r) => positionals.length === 0 || positionals.includes(r.name))) await run(r);
  }
  console.log(await table());
}
