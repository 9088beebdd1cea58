/**
 * Rejection (engine/rejection.ts) against a brute force written here: for
 * every number of patterns rejected, least sure first, the error of the rest
 * counted again from scratch.
 */
import assert from "node:assert/strict";
import { rejectionFor, topTwoGaps } from "../engine/rejection.ts";
import { Rng } from "../engine/rng.ts";

Deno.test("rejection: the share rejected for a target error is the brute force's, on random sets", () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rng.next() * 60), k = 10;
    const probabilities = Array.from({ length: n * k }, () => rng.next());
    const correct = Array.from({ length: n }, () => rng.next() < 0.8);
    const target = [0, 0.005, 0.05, 0.2][trial % 4];
    const gaps = topTwoGaps(probabilities, n, k);
    const sure = Array.from({ length: n }, (_, p) => {
      const row = probabilities.slice(p * k, (p + 1) * k).sort((a, b) => b - a);
      return row[0] - row[1];
    });
    assert.deepEqual([...gaps], sure);
    const order = sure.map((g, p) => [g, p]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, p]) => p);
    let expected = 1;
    for (let r = 0; r <= n; r++) {
      const kept = order.slice(r);
      const wrong = kept.filter((p) => !correct[p]).length;
      if (kept.length > 0 && wrong / kept.length <= target + 1e-15) {
        expected = r / n;
        break;
      }
    }
    assert.equal(rejectionFor(gaps, correct, target), expected, `trial ${trial}`);
  }
});

Deno.test("rejection: bad sizes name what they got", () => {
  assert.throws(() => topTwoGaps([1, 2, 3], 2, 2), /Cannot take the top two of 2 rows of 2 values from 3 values/);
  assert.throws(() => rejectionFor([0.1, 0.2], [true], 0), /Cannot compare 2 gaps with 1 answers/);
});
