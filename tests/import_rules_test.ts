/**
 * The import rules of the layers of the system, checked on the module graphs
 * `deno info --json` gives (type imports included):
 * 1. core.ts reaches no `node:`, `npm:` or `jsr:` module and no file that
 *    uses the `Deno` global;
 * 2. engine/ imports nothing from layers/, losses/, optim/, presets/,
 *    builtins.ts, cli/, web/, report/, bench/ or export/;
 * 3. the plugin folders layers/, losses/ and optim/ import only engine/ and
 *    their own folder;
 * 4. what the page ships (web/app.ts, web/train_worker.ts, the engine's
 *    workers, core.ts) imports nothing from bench/ or cli/;
 * 5. data/, export/ and report/ import nothing from cli/, web/ or bench/.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface Graph {
  modules: {
    specifier: string;
    dependencies?: { specifier: string; code?: { specifier?: string }; type?: { specifier?: string } }[];
  }[];
}

/** A module's name: its path from the repository root for a local file, else its specifier. */
const name = (specifier: string) => specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : specifier;

/** The module graph of `roots` (paths from the repository root), as `deno info --json` gives it. */
async function graph(roots: readonly string[]): Promise<Graph> {
  const source = roots.map((r) => `import ${JSON.stringify(new URL(r, ROOT).href)};`).join("\n");
  const root = `data:application/typescript;base64,${btoa(source)}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: new URL(ROOT).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Every import in `g`, code or type, as [importer, imported], both by name; the data: root left out. */
function edges(g: Graph): [string, string][] {
  return g.modules.filter((m) => !m.specifier.startsWith("data:")).flatMap((m) =>
    (m.dependencies ?? []).flatMap((d) =>
      [...new Set([d.code?.specifier, d.type?.specifier])].filter((s) => s !== undefined)
        .map((s): [string, string] => [name(m.specifier), name(s)])
    )
  );
}

/** The .ts files under the folders `dirs`, by name. */
async function filesIn(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory && path !== "engine/wasm/assembly") await walk(`${path}/`);
      else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
    }
  };
  for (const d of dirs) await walk(d);
  return out.sort();
}

/** The imports among `pairs` that `allowed` refuses, as "importer -> imported". */
function broken(pairs: [string, string][], allowed: (from: string, to: string) => boolean): string[] {
  return [...new Set(pairs.filter(([f, t]) => !allowed(f, t)).map(([f, t]) => `${f} -> ${t}`))].sort();
}

const under = (path: string, dirs: readonly string[]) => dirs.some((d) => path === d || path.startsWith(d));

const all = edges(
  await graph(await filesIn(["engine/", "layers/", "losses/", "optim/", "data/", "export/", "report/"])),
);

Deno.test("import rules: core.ts reaches no node:, npm: or jsr: module and no file that uses the Deno global", async () => {
  const g = await graph(["core.ts"]);
  const names = g.modules.map((m) => name(m.specifier)).filter((s) => !s.startsWith("data:"));
  // Every module is a file of the repository (named by its path): none is node:, npm:, jsr: or remote.
  assert.deepEqual(names.filter((s) => s.includes(":")), [], "modules core.ts reaches that are not files");
  const usesDeno: string[] = [];
  for (const s of names) {
    const text = await Deno.readTextFile(new URL(s, ROOT));
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    if (/\bDeno\./.test(code)) usesDeno.push(s);
  }
  assert.deepEqual(usesDeno, [], "files core.ts reaches that use the Deno global");
});

Deno.test("import rules: engine/ imports no plugin folder, preset, builtins.ts, CLI, page, report, bench or export", () => {
  const forbidden = ["layers/", "losses/", "optim/", "presets/", "builtins.ts", "cli/", "web/", "report/", "bench/"];
  assert.deepEqual(broken(all, (f, t) => !f.startsWith("engine/") || !under(t, [...forbidden, "export/"])), []);
});

Deno.test("import rules: layers/, losses/ and optim/ import only engine/ and their own folder", () => {
  const plugins = ["layers/", "losses/", "optim/"];
  const allowed = (f: string, t: string) => {
    const own = plugins.find((d) => f.startsWith(d));
    return own === undefined || under(t, ["engine/", own]);
  };
  assert.deepEqual(broken(all, allowed), []);
});

Deno.test("import rules: data/, export/, presets/ and report/ import nothing from cli/, web/ or bench/", () => {
  const allowed = (f: string, t: string) =>
    !under(f, ["data/", "export/", "presets/", "report/"]) || !under(t, ["cli/", "web/", "bench/"]);
  assert.deepEqual(broken(all, allowed), []);
});

Deno.test("import rules: what the page ships imports nothing from bench/ or cli/", async () => {
  const page = ["web/app.ts", "web/train_worker.ts", "engine/_eval_worker.ts", "engine/_parallel_worker.ts", "core.ts"];
  const pairs = edges(await graph(page)).filter(([f]) => !under(f, ["bench/", "cli/"]));
  assert.deepEqual(broken(pairs, (_f, t) => !under(t, ["bench/", "cli/"])), []);
});
