/**
 * Nearest neighbours (engine/nearest.ts) against distances computed here in
 * float64, one pair at a time, on real MNIST digits, on both kernel
 * backends; and the vote of k = 3.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { join } from "node:path";
import { prepareSplit } from "../data/prepare.ts";
import { preprocess } from "../data/preprocess.ts";
import { nearestNeighbours, vote } from "../engine/nearest.ts";
import { data } from "./_export_cases.ts";
import { withTempDir } from "./_files.ts";
import { failed, task } from "./_task.ts";

Deno.test("nearest: the k nearest of 100 MNIST test digits among 3,000 training digits are those float64 finds, on both kernels", async () => {
  const { train, test } = await data();
  const count = 3000, n = 100, size = 784, k = 3;
  const ref = preprocess(train.images.subarray(0, count * size), count, 28, 28, { pad: 0 });
  const x = preprocess(test.images.subarray(0, n * size), n, 28, 28, { pad: 0 });
  // The reference: every distance in float64, sorted (stable, so ties keep the lower index first).
  const expected = Array.from({ length: n }, (_, p) => {
    const d = Array.from({ length: count }, (_, t) => {
      let s = 0;
      for (let j = 0; j < size; j++) s += (x[p * size + j] - ref[t * size + j]) ** 2;
      return { t, d: s };
    });
    return d.sort((a, b) => a.d - b.d).slice(0, k + 1);
  });
  for (const kernels of ["js", "wasm"] as const) {
    const found = nearestNeighbours({ x: ref, labels: train.labels.subarray(0, count), size }, {
      registry: defaultRegistry,
      kernels,
    }).search(x, n, k);
    let compared = 0;
    for (let p = 0; p < n; p++) {
      for (let i = 0; i < k; i++) {
        const e = expected[p];
        const d = found.distance[p * k + i];
        assert.ok(
          Math.abs(d - e[i].d) <= 1e-4 * e[i].d + 1e-3,
          `${kernels}: pattern ${p}, neighbour ${i}: ${d} vs ${e[i].d}`,
        );
        // Where the next distance is clearly apart, the neighbour itself must be the same.
        const apart = (i === 0 || e[i].d - e[i - 1].d > 1e-2) && e[i + 1].d - e[i].d > 1e-2;
        if (apart) {
          assert.equal(found.index[p * k + i], e[i].t, `${kernels}: pattern ${p}, neighbour ${i}`);
          compared++;
        }
      }
    }
    assert.ok(compared > 0.9 * n * k, `${kernels}: most neighbours are clearly apart (${compared})`);
    const right = vote(found, train.labels).filter((c, p) => c === test.labels[p]).length;
    assert.ok(right >= 85, `${kernels}: 3-NN on 3,000 digits gets most of 100 test digits right (${right})`);
  }
});

Deno.test("nearest: k = 3 votes by majority, and the nearest's class breaks a tie", () => {
  const labels = [4, 7, 7, 1, 2];
  const found = (index: number[]) => ({ index: Int32Array.from(index), distance: new Float32Array(3), k: 3 });
  assert.deepEqual([...vote(found([0, 1, 2]), labels)], [7]);
  assert.deepEqual([...vote(found([1, 0, 2]), labels)], [7]);
  assert.deepEqual([...vote(found([3, 4, 0]), labels)], [1]);
  assert.deepEqual([...vote(found([4, 3, 0, 1, 2, 0]), labels)], [2, 7]);
});

Deno.test("nearest: a bad k or reference names what was expected", () => {
  const nn = nearestNeighbours({ x: new Float32Array(6), labels: [0, 1, 2], size: 2 }, { registry: defaultRegistry });
  assert.throws(
    () => nn.search(new Float32Array(2), 1, 4),
    /Cannot find 4 neighbours among 3 reference patterns: k must be in 1\.\.3/,
  );
  assert.throws(
    () => nearestNeighbours({ x: new Float32Array(5), labels: [0, 1, 2], size: 2 }, { registry: defaultRegistry }),
    /they hold 5 values, expected 6/,
  );
});

Deno.test("knn: the command's test errors for k = 1..3 on deslanted digits are the library's, and it writes them", async () => {
  await withTempDir(async (dir) => {
    const r = await task("knn", "--limit", "1000", "--k", "3", "--deslant", "--out", dir);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    const { train, test } = await data();
    const steps = [{ type: "deslant", size: 20 }] as const;
    const ref = prepareSplit({ ...train, count: 1000, images: train.images.subarray(0, 1000 * 784) }, steps);
    const tested = prepareSplit(test, steps);
    const nn = nearestNeighbours({
      x: preprocess(ref.images, 1000, 20, 20, { pad: 0 }),
      labels: train.labels.subarray(0, 1000),
      size: 400,
    }, { registry: defaultRegistry });
    const x = preprocess(tested.images, test.count, 20, 20, { pad: 0 });
    const expected = [1, 2, 3].map((k) => {
      const classes = vote(nn.search(x, test.count, k), train.labels);
      return classes.filter((c, p) => c !== test.labels[p]).length / test.count;
    });
    assert.deepEqual(summary.testErrorByK, expected);
    assert.equal(summary.testError, expected[2]);
    assert.match(r.stdout, new RegExp(`k = 3: test error ${(100 * expected[2]).toFixed(2)}%`));
    assert.deepEqual([summary.passesDone, summary.settings.passes, summary.settings.reference], [0, 0, 1000]);
  });
  failed(await task("knn", "--k", "0"), 2, /Option --k must be an integer in 1\.\.100, got "0"/);
  failed(
    await task("knn", "--k", "5", "--limit", "3"),
    2,
    /Option --limit must be an integer of at least --k \(5\), got "3"/,
  );
});
