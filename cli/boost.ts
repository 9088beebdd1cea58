/**
 * `deno task boost`: boosted LeNet-4 as the paper built it (engine/boost.ts):
 * three nets trained in turn by `deno task train`, the second and third on
 * training sets filtered by the nets before them (written as MNIST-format
 * folders beside them), then the three added on the test set; also the
 * paper's shortcut (the second and third run only when the first is unsure)
 * and one ONNX graph of the three nets and their sum.
 *
 * Each step is kept in the output folder and skipped when done, so a stopped
 * run goes on where it stopped (a stopped training resumes).
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { encodeIdx } from "../data/idx.ts";
import { loadMnist, mnistPackageDir } from "../data/mnist.ts";
import { modelInputs } from "../data/prepare.ts";
import { MNIST_FILE_NAMES } from "../data/split.ts";
import { addScores, boostSet, scoresOf } from "../engine/boost.ts";
import { argmaxRows, type Model } from "../engine/model.ts";
import { loadModel, writeFileAtomic } from "../engine/model_file.ts";
import { rejectionFor, topTwoGaps } from "../engine/rejection.ts";
import { exportOnnx } from "../export/onnx.ts";
import { OptionError, runCommand } from "./_command.ts";
import { exists } from "./_run_folder.ts";

const HELP =
  `Usage: deno task boost [--preset lenet4] [--seed N] [--out DIR] [--distort] [--patterns N] [--epochs N] [--limit N]

Trains boosted LeNet-4 as the paper did: net 1 as usual; net 2 on patterns
filtered by net 1 (half it gets right, half it gets wrong); net 3 on patterns
on which nets 1 and 2 disagree; the candidates are distorted training digits.
Prints the test error of each net and of their sum, and of the shortcut that
runs nets 2 and 3 only when net 1 is unsure; writes DIR/summary.json and
DIR/boosted.onnx (raw 28x28 input). A stopped run goes on where it stopped.

  --preset NAME   the nets' preset (default lenet4)
  --seed N        seed of net 1; nets 2 and 3 and the filtering take N+1, N+2 (default 0)
  --out DIR       where it goes (default runs/boosted-PRESET-seedN)
  --distort       train net 1 with distortions too (the paper's boosted LeNet-4 is a [dist] row)
  --patterns N    patterns in the filtered training sets of nets 2 and 3 (default 60000)
  --epochs N      passes of each net (default the preset's)
  --limit N       nets train on the first N patterns of their sets (quick runs)
  -h, --help      show this help
  --version       print the version (from deno.json)
`;

/** Trains one net with `deno task train` in `dir` (resumed if stopped, skipped if done). */
async function train(dir: string, args: string[]): Promise<void> {
  const summary = join(dir, "summary.json");
  if (await exists(summary)) {
    const s = JSON.parse(await Deno.readTextFile(summary));
    if (s.passesDone === s.settings.passes) return;
  }
  const resume = await exists(join(dir, "checkpoint.json"));
  const argv = resume ? ["--resume", dir] : [...args, "--out", dir];
  console.log(`\n== deno task train ${argv.join(" ")}`);
  const cli = new URL("./train.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "--allow-read", "--allow-write", cli, ...argv] });
  const status = await child.spawn().status;
  if (!status.success) throw new Error(`Cannot train the net in "${dir}": deno task train exited ${status.code}`);
}

/** Writes a filtered training set as an MNIST-format folder (the test files copied from the original) with `notes`. */
async function writeSet(
  dir: string,
  set: { images: Uint8Array; labels: Uint8Array; rows: number; cols: number; notes: unknown },
) {
  const { images, labels, rows, cols } = set;
  const tmp = `${dir}.tmp-boost`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.writeFile(join(tmp, MNIST_FILE_NAMES.trainImages), encodeIdx(images, [labels.length, rows, cols]));
  await Deno.writeFile(join(tmp, MNIST_FILE_NAMES.trainLabels), encodeIdx(labels, [labels.length]));
  const original = await mnistPackageDir();
  for (const f of [MNIST_FILE_NAMES.testImages, MNIST_FILE_NAMES.testLabels]) {
    await Deno.copyFile(join(original, f), join(tmp, f));
  }
  await Deno.writeTextFile(join(tmp, "drawn.json"), JSON.stringify(set.notes) + "\n");
  await Deno.rename(tmp, dir);
}

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const options = {
    preset: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    distort: { type: "boolean", default: false },
    patterns: { type: "string" },
    epochs: { type: "string" },
    limit: { type: "string" },
  } as const;
  return runCommand(args, options, HELP, async (values) => {
    const int = (name: string, fallback: number | undefined, min: number) => {
      const raw = values[name];
      if (raw === undefined) return fallback;
      const v = Number(raw);
      if (!Number.isInteger(v) || v < min) {
        throw new OptionError(`Option --${name} must be an integer >= ${min}, got "${raw}"`);
      }
      return v;
    };
    const preset = (values.preset as string | undefined) ?? "lenet4";
    const seed = int("seed", 0, 0)!, patterns = int("patterns", 60_000, 1)!;
    const epochs = int("epochs", undefined, 1), limit = int("limit", undefined, 1);
    const out = (values.out as string | undefined) ?? join("runs", `boosted-${preset}-seed${seed}`);
    const started = performance.now();
    const common = [
      "--preset",
      preset,
      ...(epochs ? ["--epochs", String(epochs)] : []),
      ...(limit ? ["--limit", String(limit)] : []),
    ];
    const { train: trainSplit, test } = await loadMnist();
    const net = (i: number) => join(out, `net${i}`), data = (i: number) => join(out, `net${i}-data`);
    const load = (i: number) => loadModel(join(net(i), "model.json"), defaultRegistry);

    await train(net(1), [...common, "--seed", String(seed), ...(values.distort ? ["--distort"] : [])]);
    const nets: Model[] = [await load(1)];
    const drawn: number[] = [];
    for (const [i, filter] of [[2, "half-right"], [3, "disagree"]] as const) {
      if (!(await exists(data(i)))) {
        console.log(`\n== net ${i}'s training set: ${patterns.toLocaleString("en-US")} patterns (${filter})`);
        const set = boostSet(trainSplit, nets, {
          count: patterns,
          seed: seed + i - 1,
          distort: DEFAULT_DISTORTION,
          filter,
          progress: (kept, n) => {
            if (n % (BLOCKS_PER_LINE * 256) === 0 || kept === patterns) {
              console.log(`  ${kept.toLocaleString("en-US")} kept of ${n.toLocaleString("en-US")} drawn`);
            }
          },
        });
        const { rows, cols } = trainSplit;
        await writeSet(data(i), { ...set, rows, cols, notes: { drawn: set.drawn, filter } });
      }
      drawn.push(JSON.parse(await Deno.readTextFile(join(data(i), "drawn.json"))).drawn);
      await train(net(i), [...common, "--seed", String(seed + i - 1), "--data", data(i)]);
      nets.push(await load(i));
    }

    // The test set: each net alone, their sum, and the shortcut.
    const x = modelInputs(test, nets[0]);
    const k = nets[0].classes, n = test.count;
    const errorOf = (scores: Float64Array, net: Model) => {
      const p = new Float64Array(n * k);
      net.loss.plugin.probabilities(net.loss.config, scores, n, k, p);
      const correct = Array.from(argmaxRows(p, n, k, new Int32Array(n)), (c, s) => c === test.labels[s]);
      return { error: correct.filter((ok) => !ok).length / n, gaps: topTwoGaps(p, n, k), correct };
    };
    const each = nets.map((m) => scoresOf(m, x, n));
    const alone = each.map((y, i) => errorOf(y, nets[i]));
    const sum = addScores(each);
    const boosted = errorOf(sum, nets[0]);
    // The shortcut: nets 2 and 3 run only where net 1's gap between its two most probable classes is below t.
    const first = each[0];
    const shortcut = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9].map((t) => {
      const mixed = new Float64Array(n * k);
      let runs = 0;
      for (let s = 0; s < n; s++) {
        const unsure = alone[0].gaps[s] < t;
        runs += unsure ? 3 : 1;
        for (let c = 0; c < k; c++) mixed[s * k + c] = unsure ? sum[s * k + c] : 3 * first[s * k + c];
      }
      return { below: t, netsPerPattern: runs / n, testError: errorOf(mixed, nets[0]).error };
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const pct = (e: number) => `${(100 * e).toFixed(2)}%`;
    console.log(`\nnets alone: ${alone.map((a) => pct(a.error)).join(", ")}; added: ${pct(boosted.error)}`);
    for (const s of shortcut) {
      console.log(
        `shortcut (nets 2 and 3 where net 1's gap < ${s.below}): ${s.netsPerPattern.toFixed(2)} nets per digit, ${
          pct(s.testError)
        }`,
      );
    }
    await writeFileAtomic(
      join(out, "boosted.onnx"),
      exportOnnx(nets[0], { rawInput: "uint8", ensemble: nets.slice(1) }),
    );
    const summary = {
      settings: { passes: 0, preset, seed, distort: values.distort, patterns, epochs, limit },
      seed,
      passesDone: 0,
      testError: boosted.error,
      trainError: null,
      netErrors: alone.map((a) => a.error),
      drawn,
      shortcut,
      rejectedFor05: rejectionFor(boosted.gaps, boosted.correct, 0.005),
      wallSeconds,
      machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
      passes: [],
    };
    await writeFileAtomic(join(out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
    console.log(`Written: ${join(out, "summary.json")} and ${join(out, "boosted.onnx")}`);
    return 0;
  });
}

/** Progress lines of the filtering: one per this many blocks of candidates. */
const BLOCKS_PER_LINE = 400;

if (import.meta.main) Deno.exit(await main(Deno.args));
