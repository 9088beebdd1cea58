/**
 * The browser half of tests/web_test.ts, in its own process (playwright-core
 * needs more permissions than the test task gives): opens the page at URL in
 * Debian's Chromium, draws the first N MNIST test digits on its canvas with
 * the mouse (each run of ink pixels of a row one stroke), reads the page's
 * answers, then runs the same 28x28 images on WebGPU (SwiftShader) and on WASM
 * in a second Chromium with WebGPU enabled. Prints JSON; saves a screenshot.
 *
 *   deno run -A tests/_web_browser.ts URL N SCREENSHOT.png
 *
 * @module
 */
import { launchChromium, pageErrors } from "./_browser.ts";
import { loadMnist } from "../data/mnist.ts";

const [url, count, screenshot] = Deno.args;
const n = Number(count);

interface Last {
  input: number[];
  class: number;
  probabilities: number[];
  backend: string;
}
type PageApi = { lenet5: { ready: Promise<void>; last: Last | null; predict(x: Uint8Array): Promise<Last> } };

const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const launch = (webgpu: boolean) => launchChromium(`${profile}/${webgpu ? "gpu" : "cpu"}`, { webgpu });

const browsers = [await launch(false)];
try {
  const page = await browsers[0].newPage();
  const errors = pageErrors(page);
  await page.goto(url);
  await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const status = (await page.locator("#status").textContent()) ?? "";

  const { test } = await loadMnist();
  const box = (await page.locator("#pad").boundingBox())!;
  const seen: Last[] = [];
  for (let i = 0; i < n; i++) {
    const image = test.images.subarray(i * 784, (i + 1) * 784);
    await page.click("#clear");
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        if (image[y * 28 + x] < 128 || (x > 0 && image[y * 28 + x - 1] >= 128)) continue;
        let end = x;
        while (end + 1 < 28 && image[y * 28 + end + 1] >= 128) end++;
        const px = (c: number) => box.x + ((c + 0.5) * box.width) / 28, py = box.y + ((y + 0.5) * box.height) / 28;
        await page.mouse.move(px(x), py);
        await page.mouse.down();
        await page.mouse.move(px(end), py, { steps: 2 });
        await page.mouse.up();
      }
    }
    // The answer to the finished drawing: wait until the page's input stops changing.
    let last: Last | null = null;
    for (let tries = 0; tries < 100; tries++) {
      await page.waitForTimeout(150);
      const now = await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.last);
      if (last && now && JSON.stringify(now.input) === JSON.stringify(last.input)) break;
      last = now;
    }
    seen.push(last!);
  }
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  // Offline once loaded: the service worker answers a reload without the network.
  await page.evaluate(() =>
    (globalThis as unknown as { navigator: { serviceWorker: { ready: Promise<unknown> } } }).navigator.serviceWorker
      .ready
  );
  await browsers[0].setOffline(true);
  await page.reload();
  await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const offline = await page.evaluate(
    (input) => (globalThis as unknown as PageApi).lenet5.predict(Uint8Array.from(input)),
    seen[0].input,
  );
  await browsers[0].setOffline(false);
  // A phone-sized screen: nothing sticks out sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  const phoneOverflow = await page.evaluate(() =>
    (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement
      .scrollWidth - 390
  );

  browsers.push(await launch(true));
  const gpuPage = await browsers[1].newPage();
  gpuPage.on("pageerror", (e) => errors.push(`WebGPU page: ${e.message}`));
  await gpuPage.goto(url);
  await gpuPage.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const backends = await gpuPage.locator("#backend option").evaluateAll((o) =>
    o.map((x) => (x as unknown as { value: string }).value)
  );
  const run = async (backend: string) => {
    await gpuPage.selectOption("#backend", backend);
    const out: Last[] = [];
    for (const s of seen) {
      out.push(
        await gpuPage.evaluate(
          (input) => (globalThis as unknown as PageApi).lenet5.predict(Uint8Array.from(input)),
          s.input,
        ),
      );
    }
    return out;
  };
  const gpu = backends.includes("webgpu") ? await run("webgpu") : [];
  const cpu = await run("wasm");
  console.log(JSON.stringify({ status, errors, seen, backends, gpu, cpu, phoneOverflow, offline }));
} finally {
  for (const b of browsers) await b.close();
  await Deno.remove(profile, { recursive: true });
}
