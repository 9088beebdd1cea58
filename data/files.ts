/**
 * Reading files with errors in words: the problem named ("no such file", "it
 * is a FIFO, not a regular file", too large) instead of the OS's message. The
 * file access of the readers lives here and in the other edge modules, not in
 * the library core.
 *
 * @module
 */
import { concatBytes } from "./idx.ts";

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
 * What is wrong with reading `info`'s file as data: "it is a FIFO, not a
 * regular file" (or a folder, a character or block device, a socket), or
 * null for a regular file.
 */
export function notRegularFile(info: Deno.FileInfo): string | null {
  if (info.isFile) return null;
  if (info.isDirectory) return "it is a folder, not a file";
  const kind = info.isFifo
    ? "a FIFO"
    : info.isCharDevice
    ? "a character device"
    : info.isBlockDevice
    ? "a block device"
    : info.isSocket
    ? "a socket"
    : "not a file of data";
  return `it is ${kind}, not a regular file`;
}

/** Bytes read at a time once a file turns out larger than its size said. */
const CHUNK_BYTES = 2 ** 20;

const grouped = (n: number) => n.toLocaleString("en-US");

/**
 * Reads a whole regular file of at most `limit` bytes; any problem goes to
 * `fail` in words (no such file, a folder, a FIFO or a device, too large, ...).
 * Anything but a regular file (after following symlinks) is refused without
 * being opened; the opened file is checked again, and it is read with the
 * limit enforced as it goes, so a file that grows or reports a wrong size
 * cannot make it read more than `limit` + 1 bytes.
 *
 * @example
 * ```ts
 * import { readFileBounded } from "./files.ts";
 * const fail = (problem: string): never => {
 *   throw new Error(problem);
 * };
 * const refused = await readFileBounded("/dev/zero", 100, fail).then(() => "", (e) => e.message);
 * if (refused !== "it is a character device, not a regular file") throw new Error(refused);
 * ```
 */
export async function readFileBounded(
  path: string,
  limit: number,
  fail: (problem: string) => never,
): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    const problem = notRegularFile(await Deno.stat(path));
    if (problem) return fail(problem);
    file = await Deno.open(path, { read: true });
  } catch (e) {
    return osProblem(e, fail);
  }
  try {
    const info = await file.stat();
    const problem = notRegularFile(info);
    if (problem) return fail(problem);
    if (info.size > limit) {
      return fail(`it holds ${grouped(info.size)} bytes, more than the limit of ${grouped(limit)}`);
    }
    const buf = new Uint8Array(info.size);
    for (let n = 0; n < buf.length;) {
      const got = await file.read(buf.subarray(n));
      if (got === null) return buf.subarray(0, n); // shorter than it said
      n += got;
    }
    // More than it said (a file still being written, or one whose size is not its length): on up to the limit.
    const parts = [buf], chunk = new Uint8Array(CHUNK_BYTES);
    let total = buf.length;
    // Never more than one byte past the limit: that byte is enough to know.
    const next = () => file.read(chunk.subarray(0, Math.min(chunk.length, limit + 1 - total)));
    for (let got = await next(); got !== null; got = await next()) {
      total += got;
      if (total > limit) {
        return fail(`it holds more than the limit of ${grouped(limit)} bytes (its size said ${grouped(info.size)})`);
      }
      parts.push(chunk.slice(0, got));
    }
    return parts.length === 1 ? buf : concatBytes(parts);
  } catch (e) {
    return osProblem(e, fail);
  } finally {
    file.close();
  }
}

/** An OS error with words here goes to `fail`; any other error (fail's own, say) goes on. */
function osProblem(e: unknown, fail: (problem: string) => never): never {
  const os = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.IsADirectory;
  if (os) return fail(fileProblem(e));
  throw e;
}
