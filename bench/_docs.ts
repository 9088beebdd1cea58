/**
 * What the benchmark scripts share: the machine's CPU, and writing a
 * benchmark's latest numbers into a document, between the markers
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, leaving the prose around
 * them as it is (docs/performance.md). The file is written atomically.
 *
 * @module
 */
import { writeFileAtomic } from "../engine/model_file.ts";

/** Replaces the block `name` of `path` with `lines`; throws, naming the file, when the markers are missing. */
export async function rewriteDocs(path: string, name: string, lines: string[]): Promise<void> {
  const text = await Deno.readTextFile(path);
  const open = `<!-- bench:${name} -->`, close = `<!-- /bench:${name} -->`;
  const a = text.indexOf(open), b = text.indexOf(close);
  if (a < 0 || b < a) throw new Error(`Cannot rewrite "${path}": it lacks the markers ${open} ... ${close}`);
  await writeFileAtomic(path, `${text.slice(0, a + open.length)}\n\n${lines.join("\n")}\n\n${text.slice(b)}`);
  // The table's layout as `deno fmt` (and so `deno task ok`) wants it.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
  console.error(`${path}: the ${name} block rewritten`);
}

/** The CPU model and flags that tell the machines apart (from lscpu), or null. */
export async function cpuModel(): Promise<string | null> {
  try {
    const out = await new Deno.Command("lscpu", { stdout: "piped", stderr: "null" }).output();
    const text = new TextDecoder().decode(out.stdout);
    const name = text.match(/^Model name:\s*(.+)$/m)?.[1]?.trim();
    if (!name) return null;
    const flags = text.match(/^Flags:\s*(.+)$/m)?.[1] ?? "";
    return `${name}${/\bavx512f\b/.test(flags) ? ", AVX-512" : /\bavx2\b/.test(flags) ? ", AVX2" : ""}`;
  } catch {
    return null;
  }
}

/** The checked-out commit of this repository, with `+changes` when tracked files differ from it. */
export async function commitNow(): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  const git = async (...args: string[]) =>
    new TextDecoder().decode((await new Deno.Command("git", { args, cwd: root, stdout: "piped" }).output()).stdout)
      .trim();
  const head = await git("rev-parse", "--short=12", "HEAD");
  return (await git("status", "--porcelain", "--untracked-files=no")) ? `${head}+changes` : head;
}
