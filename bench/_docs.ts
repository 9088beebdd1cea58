/**
 * Writes a benchmark's latest numbers into a document, between the markers
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
