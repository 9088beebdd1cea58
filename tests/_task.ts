/**
 * Subprocesses as the tests run them: the commands as users run them
 * (`deno task NAME ...` from the repository, so each gets exactly the
 * permissions its task in deno.json grants), `deno ARGS` and other programs,
 * each with no input, its output piped and NO_COLOR set.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The repository, where deno.json and its tasks are. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** What a command printed, its exit code and the signal that ended it (null when it exited). */
export interface TaskResult {
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How to run a subprocess: `Deno.CommandOptions` but its arguments, which each function takes apart. */
export type RunOptions = Omit<Deno.CommandOptions, "args">;

/** `program args`: no input, its output piped, NO_COLOR set (added to this process's variables); `options` override. */
function command(program: string, args: string[], options: RunOptions): Deno.Command {
  return new Deno.Command(program, {
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
    args,
  });
}

/** The exit code, signal and decoded output of a finished command. */
export function resultOf(out: Deno.CommandOutput): TaskResult {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, signal: out.signal, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Runs `program args` and waits for it: its exit code, signal and output. */
export async function run(program: string, args: string[], options: RunOptions = {}): Promise<TaskResult> {
  return resultOf(await command(program, args, options).output());
}

/** Runs `deno args` (this Deno) and waits for it. */
export function deno(args: string[], options: RunOptions = {}): Promise<TaskResult> {
  return run(Deno.execPath(), args, options);
}

/** Starts `deno args` without waiting: the caller reads, kills and awaits it. */
export function spawnDeno(args: string[], options: RunOptions = {}): Deno.ChildProcess {
  return command(Deno.execPath(), args, options).spawn();
}

/** Runs `deno task <name> <args>` in the repository (quiet: no "Task ..." line) and waits for it. */
export function task(name: string, ...args: string[]): Promise<TaskResult> {
  return deno(["task", "--quiet", name, ...args], { cwd: ROOT });
}

/** Starts `deno task <name> <args>` in the repository without waiting: the caller reads, kills and awaits it. */
export function spawnTask(name: string, ...args: string[]): Deno.ChildProcess {
  return spawnDeno(["task", "--quiet", name, ...args], { cwd: ROOT });
}

/** Asserts that the command failed with exit code `code` and an error matching `message`. */
export function failed(r: { code: number; stderr: string }, code: number, message: RegExp, what = ""): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}, ${r.stderr}`);
  assert.match(r.stderr, message, what);
}
