/**
 * What every command shares: options parsed strictly, `--help`, and exit
 * codes (0 done, 1 failed, 2 bad usage).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command-line option: exit code 2. */
export class OptionError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args` against `options` (plus -h/--help) and runs `body`; prints
 * errors as `error: ...` and the help on bad usage. Returns the exit code.
 */
export async function runCommand<O extends Options>(
  args: string[],
  options: O,
  help: string,
  body: (values: Record<string, string | boolean | undefined>) => Promise<number>,
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h", default: false } },
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  try {
    return await body(values);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof OptionError ? 2 : 1;
  }
}
