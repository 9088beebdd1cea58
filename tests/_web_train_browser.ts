/**
 * The browser half of tests/web_train_test.ts, in its own process (as
 * tests/_web_browser.ts): opens the page at URL in Debian's Chromium, trains
 * PRESET for two passes over the first LIMIT patterns with SEED in the Train
 * tab, measures how long a click on the Draw tab takes to show while the
 * worker trains, then uses the trained model in the Draw tab on the first
 * test digits. Prints JSON; saves a screenshot of the Train tab.
 *
 *   deno run -A tests/_web_train_browser.ts URL PRESET LIMIT SEED SCREENSHOT.png
 *
 * @module
 */
import { launchChromium, pageErrors } from "./_browser.ts";
import { loadMnist } from "../data/mnist.ts";

const [url, preset, limit, seed, screenshot] = Deno.args;

interface PageApi {
  lenet5: {
    ready: Promise<void>;
    tab(name: string): void;
    predict(x: Uint8Array): Promise<{ class: number; model: string }>;
    train: {
      run(o: unknown): Promise<{ history: { loss: number; testError: number }[]; model: unknown; kernels: string }>;
      progress: { pass: number; done: number; runningLoss: number; patternsPerSecond: number } | null;
      running: boolean;
    };
  };
  crossOriginIsolated: boolean;
}

const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const browser = await launchChromium(profile);
try {
  const page = await browser.newPage();
  const errors = pageErrors(page);
  await page.goto(url);
  await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const isolated = await page.evaluate(() => (globalThis as unknown as PageApi).crossOriginIsolated);
  await page.click("#tab-train");

  // Start the run, then, while the worker trains, switch tabs by clicking: each switch shows its tab before training ends.
  // Two passes: pass 1's evaluation runs on a second worker while pass 2 trains, as in Deno.
  const options = { preset, passes: 2, seed: Number(seed), distort: false, limit: Number(limit) };
  await page.evaluate((o) => {
    (globalThis as unknown as { run: Promise<unknown> }).run = (globalThis as unknown as PageApi).lenet5.train.run(o);
  }, options);
  await page.waitForFunction(
    () => ((globalThis as unknown as PageApi).lenet5.train.progress?.done ?? 0) > 0,
    undefined,
    { timeout: 120_000 },
  );
  /** For each switch, whether the worker still trained when its tab showed. */
  const clicks: boolean[] = [];
  for (const tab of ["#tab-draw", "#tab-train", "#tab-draw", "#tab-train"]) {
    await page.click(tab);
    await page.waitForSelector(tab === "#tab-draw" ? "#draw-tab" : "#train-tab", { state: "visible" });
    clicks.push(await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.train.running));
  }
  // The last click showed the Train tab: the Draw tab is out of sight.
  const drawHiddenOnTrain = !(await page.isVisible("#draw-tab"));
  const result = await page.evaluate(() =>
    (globalThis as unknown as { run: Promise<{ history: unknown[]; model: unknown; kernels: string }> }).run
  );
  const progress = await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.train.progress);
  const recipe = await page.textContent("#t-recipe");
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});

  // The two downloads, by their buttons.
  const downloaded = async (button: string) => {
    const [d] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
    return { name: d.suggestedFilename(), bytes: Array.from(await Deno.readFile((await d.path())!)) };
  };
  const modelJson = await downloaded("#t-json");
  const onnx = await downloaded("#t-onnx");

  // "Use this model", then the Draw tab reads test digits with it.
  await page.click("#t-use");
  const { test } = await loadMnist();
  const predictions: { class: number; model: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const { class: c, model } = await page.evaluate(
      (x) => (globalThis as unknown as PageApi).lenet5.predict(Uint8Array.from(x)),
      Array.from(test.images.subarray(i * 784, (i + 1) * 784)),
    );
    predictions.push({ class: c, model });
  }
  const drawVisible = await page.isVisible("#draw-tab");
  const trainHidden = !(await page.isVisible("#train-tab"));

  // A second run: pause it mid-pass (the patterns stop), resume it (they go on), then stop it.
  await page.click("#tab-train");
  const long = { preset, passes: 1, seed: Number(seed), distort: false, limit: 30000 };
  await page.evaluate((o) => {
    (globalThis as unknown as { run2: Promise<unknown> }).run2 = (globalThis as unknown as PageApi).lenet5.train.run(o);
  }, long);
  const done = () => page.evaluate(() => (globalThis as unknown as PageApi).lenet5.train.progress?.done ?? 0);
  await page.waitForFunction(() => (((globalThis as unknown as PageApi).lenet5.train.progress?.done) ?? 0) > 0);
  await page.click("#t-pause");
  // The worker says it paused (at its next progress report) and the button turns into Resume.
  await page.locator("#t-pause", { hasText: "Resume" }).waitFor({ timeout: 10_000 });
  const pausedAt = await done();
  await page.waitForTimeout(2500);
  const stillAt = await done();
  await page.click("#t-pause");
  await page.waitForFunction(
    (at) => (((globalThis as unknown as PageApi).lenet5.train.progress?.done) ?? 0) > at,
    pausedAt,
    {
      timeout: 20_000,
    },
  );
  const resumedTo = await done();
  await page.click("#t-stop");
  const stopped = await page.evaluate(() =>
    (globalThis as unknown as { run2: Promise<{ stopped: boolean; history: unknown[] }> }).run2
  );
  const pauseResume = { pausedAt, stillAt, resumedTo, stopped: stopped.stopped, passes: stopped.history.length };
  console.log(
    JSON.stringify({
      isolated,
      errors,
      clicks,
      result,
      progress,
      predictions,
      drawVisible,
      trainHidden,
      drawHiddenOnTrain,
      recipe,
      modelJson,
      onnx,
      pauseResume,
    }),
  );
} finally {
  await browser.close();
  await Deno.remove(profile, { recursive: true });
}
