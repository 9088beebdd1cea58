/**
 * `deno task web`: builds the page into a folder and serves it with its HTTP
 * API on 127.0.0.1 (web/server.ts) until stopped; `deno task web:build`
 * (`--build`) writes the same static site (web/build.ts) and stops.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FolderNotOursError, LOCK_FILE, taskCommand } from "../data/out_folder.ts";
import { buildSite, SITE_FOLDER } from "../web/build.ts";
import { startServer } from "../web/server.ts";
import { OptionError, runCommand } from "./_command.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const HELP = `Usage: deno task web [--port N] [--out DIR] [--force]
       deno task web:build [--out DIR] [--force]

Builds the page (draw a digit, pictures of how the network decides, the
Train tab) with the shipped models into DIR, and serves it with its HTTP API
(GET /api/models, POST /api/predict) on 127.0.0.1 until stopped (Ctrl-C).
web:build writes the same static site, for any static file server, and stops.

The build replaces the folder's files by rename once all of them are written,
so a failed build leaves the folder as it was. A folder holding anything a
build of ours did not write is refused (${SITE_FOLDER.manifest} lists what
a build wrote). While a command writes or serves the folder it holds
${LOCK_FILE} in it: a second one on the same folder fails at once, naming it.

  --port N      the port (default 8000; 0: any free port), bound before anything
                is written
  --out DIR     the site folder (default runs/web)
  --force       write into DIR even if it holds files of others: the site's files
                replace theirs of the same name, the others stay
  --build       build the site and stop (what deno task web:build runs)
  -h, --help    show this help
  --version     print the version (from deno.json)
`;

const OPTIONS = {
  port: { type: "string" },
  out: { type: "string" },
  force: { type: "boolean", default: false },
  build: { type: "boolean", default: false },
} as const;

/** Runs the command; returns the exit code (a server returns once stopped by SIGINT or SIGTERM). */
export function main(args: string[]): Promise<number> {
  return runCommand(args, OPTIONS, HELP, async (values) => {
    const out = (values.out as string | undefined) ?? join(ROOT, "runs", "web");
    const force = values.force as boolean;
    if (values.build && values.port !== undefined) {
      throw new OptionError("Option --port is for serving; with --build (deno task web:build) nothing is served");
    }
    const portText = (values.port as string | undefined) ?? "8000", port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw new OptionError(`Option --port must be an integer in 0..65535, got "${portText}"`);
    }
    // A file-size limit (ulimit -f) makes a write fail with "file too large", as a full disk does, instead of
    // killing the command half-way.
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGXFSZ", () => {});
    try {
      if (values.build) {
        const command = taskCommand("web:build", args.filter((a) => a !== "--build"));
        await buildSite(out, { force, command });
        console.log(`Wrote the site to ${out}: serve it with any static file server`);
        return 0;
      }
      const stop = stopSignal(); // listening before the server says where it is, so that a signal never kills it
      const server = await startServer({ port, site: out, force, command: taskCommand("web", args) });
      await stop;
      await server.close();
      return 0;
    } catch (e) {
      if (e instanceof FolderNotOursError) throw new OptionError(e.message);
      throw e;
    }
  });
}

/**
 * Resolves on the first SIGINT or SIGTERM. Later ones change nothing: Ctrl-C
 * reaches this process twice, from the terminal and from `deno task`. One
 * that comes while the site is built stops the server as soon as it starts.
 */
function stopSignal(): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    for (const s of signals) Deno.addSignalListener(s, () => resolve());
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
