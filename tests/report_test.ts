/** The SVG charts of the run reports. */
import assert from "node:assert/strict";
import { lineChart } from "../report/svg.ts";

Deno.test("lineChart: on a log scale a zero sits at half the smallest positive value, and the axis stays there", () => {
  const options = { title: "t", xLabel: "pass", yLabel: "error (%)", logY: true };
  const chart = (last: number) =>
    lineChart([{ name: "error", color: "#000", points: [[1, 2], [2, 0.5], [3, last]] }], options);
  assert.equal(chart(0), chart(0.25));
  assert.notEqual(chart(0), chart(1e-12));
  // On a linear scale a zero is a zero.
  const linear = (last: number) =>
    lineChart([{ name: "e", color: "#000", points: [[1, 2], [2, last]] }], { ...options, logY: false });
  assert.notEqual(linear(0), linear(0.25));
});
