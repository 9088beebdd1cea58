/**
 * Debian's Chromium through playwright-core, as every browser test and the
 * bench launch it: headless, no sandbox, no GPU process, no network of its
 * own, a fresh profile; never a downloaded browser.
 *
 * @module
 */
import { chromium, type Page } from "playwright-core";

/** Where Debian installs Chromium (`.ci/run` installs it when it is missing). */
export const CHROMIUM = "/usr/bin/chromium";

/** A persistent context on `profile`; `webgpu` adds the software WebGPU adapter (SwiftShader). */
export function launchChromium(profile: string, options: { webgpu?: boolean } = {}) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 1000 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...(options.webgpu ? ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"] : []),
    ],
  });
}

/** The page's console errors and uncaught exceptions from now on, as they come. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}
