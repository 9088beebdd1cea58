/**
 * Reading files with errors in words: the problem named ("no such file", "it
 * is a folder, not a file", too large) instead of the OS's message. The file
 * access of the readers lives here and in the other edge modules, not in the
 * library core.
 *
 * @module
 */

/** A file-system error in words ("no such file", "it is a folder, not a file", ...) instead of the OS's. */
export function fileProblem(e: unknown): string {
  return e instanceof Deno.errors.NotFound
    ? "no such file"
    : e instanceof Deno.errors.IsADirectory
    ? "it is a folder, not a file"
    : e instanceof Deno.errors.NotADirectory
    ? "a part of the path is a file, not a folder"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.AlreadyExists
    ? "it exists already"
    : (e as Error)?.message ?? String(e);
}

/**
 * Reads a whole file of at most `limit` bytes (checked before reading); any
 * problem goes to `fail` in words (no such file, a folder, too large, ...).
 */
export async function readFileBounded(
  path: string,
  limit: number,
  fail: (problem: string) => never,
): Promise<Uint8Array> {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) return fail("it is a folder, not a file");
    if (info.size > limit) {
      return fail(
        `it holds ${info.size.toLocaleString("en-US")} bytes, more than the limit of ${limit.toLocaleString("en-US")}`,
      );
    }
    return await Deno.readFile(path);
  } catch (e) {
    const os = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
      e instanceof Deno.errors.PermissionDenied;
    if (os) return fail(fileProblem(e));
    throw e; // fail's own error, or one without words here
  }
}
