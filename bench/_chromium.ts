/**
 * compare.ts's `engine-chromium` row, in its own process (the web server and
 * playwright-core need more permissions than the bench): serves the page
 * (web/server.ts), opens it in Debian's Chromium and has its training worker
 * time one-pattern SDLM training of lenet5 as compare.ts times the engine in
 * Deno. Prints JSON.
 *
 *   deno run -A bench/_chromium.ts SECONDS REPS
 *
 * @module
 */
import { launchChromium } from "../tests/_browser.ts";
import { startServer } from "../web/server.ts";

const [seconds, reps] = Deno.args;
type PageApi = {
  lenet5: {
    ready: Promise<void>;
    train: { bench(s: number, r: number): Promise<{ patternsPerSecond: number; kernels: string }> };
  };
  crossOriginIsolated: boolean;
};

const site = await Deno.makeTempDir({ prefix: "lenet5-site-" });
const server = await startServer({ port: 0, site, quiet: true });
const url = server.url;
const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const browser = await launchChromium(profile);
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const version = browser.browser()?.version() ?? "";
  const r = await page.evaluate(
    ([s, n]) => (globalThis as unknown as PageApi).lenet5.train.bench(s, n),
    [Number(seconds), Number(reps)],
  );
  console.log(JSON.stringify({ ...r, version }));
} finally {
  await browser.close();
  await server.close();
  await Deno.remove(profile, { recursive: true });
  await Deno.remove(site, { recursive: true });
}
