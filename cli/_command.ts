/**
 * What every command shares: options parsed strictly, `--help`, exit codes
 * (0 done, 1 failed, 2 bad usage), and file-system errors turned into
 * messages that name the option and the path.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { fileProblem } from "../data/files.ts";
import { KERNEL_NAMES } from "../engine/kernels.ts";
import { wasmKernelsProblem } from "../engine/wasm/backend.ts";
import config from "../deno.json" with { type: "json" };

/** The package's version, from deno.json. */
export const VERSION: string = config.version;

/** A bad command-line option: exit code 2. */
export class OptionError extends Error {}

/** \`--kernels auto|wasm|js\` resolved to the backend that will run: "wasm" or "js". */
export function kernelsOption(value: string | undefined): "js" | "wasm" {
  const v = value ?? "auto";
  if (!(KERNEL_NAMES as readonly string[]).includes(v)) {
    throw new OptionError(`Option --kernels must be one of ${KERNEL_NAMES.join(", ")}, got "${v}"`);
  }
  const problem = wasmKernelsProblem();
  if (v === "wasm" && problem !== null) throw new OptionError(`Option --kernels wasm: ${problem}`);
  return v === "js" || problem !== null ? "js" : "wasm";
}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

/** `--epochs -1` as `--epochs=-1`: a value that looks like a negative number belongs to the option before it. */
function joinNegativeValues(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d|^-\.\d|^-Infinity$/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/**
 * Parses `args` against `options` (plus -h/--help and --version) and runs `body`; prints
 * errors as `error: ...` (bad usage with a pointer to --help). Returns the exit code.
 */
export async function runCommand<O extends Options>(
  args: string[],
  options: O,
  help: string,
  body: (values: Values) => Promise<number>,
): Promise<number> {
  let values: Values;
  const all = {
    ...options,
    help: { type: "boolean", short: "h", default: false },
    version: { type: "boolean", default: false },
  } as Options;
  try {
    const parse = { args: joinNegativeValues(args, all), options: all, strict: true, allowPositionals: false };
    values = parseArgs(parse).values as Values;
  } catch (e) {
    console.error(`error: ${(e as Error).message.split("\n")[0]} (--help lists the options)`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  if (values.version) {
    const task = help.match(/deno task (\S+)/)?.[1] ?? "?";
    console.log(`${config.name} ${VERSION} (deno task ${task}, Deno ${Deno.version.deno})`);
    return 0;
  }
  try {
    return await body(values);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof OptionError ? 2 : 1;
  }
}

/**
 * A file-system error as a message that names what was being done, the
 * option (when there is one) and the path, instead of the OS's words alone.
 */
export function fsError(e: unknown, doing: string, path: string, option?: string): Error {
  const why = e instanceof Deno.errors.NotFound ? "no such file or folder" : fileProblem(e);
  return option
    ? new OptionError(`Option --${option}: cannot ${doing} "${path}": ${why}`)
    : new Error(`Cannot ${doing} "${path}": ${why}`);
}
