/**
 * The commands as users run them: `deno task NAME ...` from the repository,
 * so each gets exactly the permissions its task in deno.json grants.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository, where deno.json and its tasks are. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** What a command printed and its exit code. */
export interface TaskResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `deno task <name> <args>` in the repository (quiet: no "Task ..." line), its output piped, no input. */
function taskCommand(name: string, args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", name, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs `deno task <name> <args>` in the repository and waits for it. */
export async function task(name: string, ...args: string[]): Promise<TaskResult> {
  const out = await taskCommand(name, args).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

/** Starts `deno task <name> <args>` in the repository without waiting: the caller reads, kills and awaits it. */
export function spawnTask(name: string, ...args: string[]): Deno.ChildProcess {
  return taskCommand(name, args).spawn();
}
