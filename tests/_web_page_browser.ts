/**
 * The browser half of tests/web_page_test.ts, in its own process
 * (playwright-core needs more permissions than the tests): on the page at URL,
 * in Debian's Chromium, it reads what the pictures of how the network decides
 * hold (F6's 84 outputs and the two codes beside them, pixel by pixel), then
 * gives the page what should get no answer: the pad after Clear, a blank
 * 28x28 image, an all-white picture, and models that fail (not JSON, not
 * ONNX, weights that overflow), and one that works. Prints JSON.
 *
 *   deno run -A tests/_web_page_browser.ts URL IMAGE_JSON FILES_DIR
 *
 * IMAGE_JSON: the 784 grey levels of a test digit; FILES_DIR holds white.png,
 * bad.json, bad.onnx, overflow.json and good.json.
 *
 * @module
 */
import { launchChromium, pageErrors } from "./_browser.ts";

const [url, imageJson, files] = Deno.args;

interface Last {
  input: number[];
  class: number;
  probabilities: number[];
  model: string;
}
type PageApi = {
  lenet5: { ready: Promise<void>; last: Last | null; predict(x: Uint8Array): Promise<Last> };
};
type Canvas = {
  width: number;
  height: number;
  getContext(t: "2d"): { getImageData(...a: number[]): { data: number[] } };
};

const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const browser = await launchChromium(profile);
try {
  const page = await browser.newPage();
  const errors = pageErrors(page);
  await page.goto(url);
  await page.evaluate(() => (globalThis as unknown as PageApi).lenet5.ready);
  const predict = (input: number[]) =>
    page.evaluate((x) => (globalThis as unknown as PageApi).lenet5.predict(Uint8Array.from(x)), input);
  /** The answer on screen: the digit, the number of rows of bars, the status line and the page's last result. */
  const shown = () =>
    page.evaluate(() => {
      type El = { textContent: string; childElementCount: number };
      const d = (globalThis as unknown as {
        document: { getElementById(id: string): El; querySelectorAll(s: string): unknown[] };
      }).document;
      return {
        digit: d.getElementById("digit").textContent,
        bars: d.querySelectorAll("#bars tr").length,
        f6: d.getElementById("f6").childElementCount,
        status: d.getElementById("status").textContent,
        last: (globalThis as unknown as PageApi).lenet5.last,
      };
    });
  /** The model picker: the selected option's text and how many there are. */
  const picker = () =>
    page.locator("#model").evaluate((s) => {
      const sel = s as unknown as { selectedOptions: { text: string }[]; options: unknown[] };
      return { selected: sel.selectedOptions[0].text, count: sel.options.length };
    });
  /** Waits until the status line matches `pattern` (or 30 s pass) and returns it. */
  const statusMatching = async (pattern: RegExp) => {
    for (let i = 0; i < 300; i++) {
      const text = (await page.locator("#status").textContent()) ?? "";
      if (pattern.test(text)) return text;
      await page.waitForTimeout(100);
    }
    return (await page.locator("#status").textContent()) ?? "";
  };

  /** Empties the status line, so that the next error waited for is the next one shown. */
  const clearStatus = () =>
    page.evaluate(() => {
      const d = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } })
        .document;
      d.getElementById("status").textContent = "";
    });
  // The Fig. 3 view of a real test digit: each canvas's grey levels and its caption.
  const digit = await predict(JSON.parse(await Deno.readTextFile(imageJson)));
  const figures = await page.locator("#f6 figure").evaluateAll((fs) =>
    fs.map((f) => {
      const el = f as unknown as { querySelector(s: string): unknown };
      const c = el.querySelector("canvas") as Canvas;
      const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      return {
        caption: (el.querySelector("figcaption") as { textContent: string }).textContent,
        width: c.width,
        height: c.height,
        grey: Array.from({ length: c.width * c.height }, (_, i) => data[4 * i]),
      };
    })
  );

  // A stroke on the pad, then Clear: the answer goes away.
  const box = (await page.locator("#pad").boundingBox())!;
  await clearStatus();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 4);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + (3 * box.height) / 4, { steps: 5 });
  await page.mouse.up();
  await statusMatching(/ms on wasm/);
  const drawn = await shown();
  await page.click("#clear");
  await statusMatching(/draw a digit/);
  const cleared = await shown();

  // A blank 28x28 image through the page's API, and an all-white picture through the file input.
  const blank = await page.evaluate(() =>
    (globalThis as unknown as PageApi).lenet5.predict(new Uint8Array(784)).then(
      () => "answered",
      (e: Error) => e.message,
    )
  );
  await predict(digit.input);
  await clearStatus();
  await page.locator("#upload").setInputFiles(`${files}/white.png`);
  await statusMatching(/^error/);
  const white = await shown();

  // Models that fail: each is refused naming its file; the picker and the model in use stay.
  const before = await picker();
  const refused: Record<string, { status: string; picker: { selected: string; count: number }; model?: string }> = {};
  for (const name of ["bad.json", "bad.onnx", "overflow.json"]) {
    await clearStatus();
    await page.locator("#own").setInputFiles(`${files}/${name}`);
    const status = await statusMatching(/^error/);
    const after = await predict(digit.input).catch((e: Error) => ({ model: `error: ${e.message}` }));
    refused[name] = { status, picker: await picker(), model: after.model };
  }
  // A model that works joins the picker and answers.
  await page.locator("#own").setInputFiles(`${files}/good.json`);
  await statusMatching(/your model good\.json: .* ms/);
  const good = { picker: await picker(), answer: await predict(digit.input) };

  console.log(JSON.stringify({ errors, digit, figures, drawn, cleared, blank, white, before, refused, good }));
} finally {
  await browser.close();
  await Deno.remove(profile, { recursive: true });
}
