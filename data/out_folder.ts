/**
 * The folders commands write (a run folder, the web site): a lock, so that a
 * second writer fails at once naming the first, and, for a folder written as
 * a whole, ownership by a manifest and an atomic build: every file is
 * written into a temporary folder inside it, then moved into place by
 * rename, and the manifest, written last, lists the files that are ours.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTemporaryOf, writeFileAtomic } from "../engine/model_file.ts";
import { fileProblem, readFileBounded } from "./files.ts";

/**
 * The lock file a command holds in the folder it writes, with who holds it
 * (pid, command line, since when); removed when the command ends. One left
 * by a command that was killed holds no lock: the next writer takes it.
 */
export const LOCK_FILE = ".lenet5-lock";

/** Who holds a folder's lock, as its lock file says. */
export interface LockHolder {
  /** Its process id. */
  readonly pid: number;
  /** Its command line. */
  readonly command: string;
  /** When it took the lock, ISO 8601. */
  readonly since: string;
}

/** A folder's lock, held until released; the OS releases it when the process ends. */
export interface FolderLock extends Disposable {
  /** The folder locked. */
  readonly dir: string;
  /** Removes the lock file and releases the lock (again: nothing). */
  release(): void;
}

/** Another command holds the folder's lock; the message names it. */
export class FolderBusyError extends Error {
  /** `holder`: who holds the lock of `dir`, null if its lock file does not say. */
  constructor(readonly dir: string, readonly holder: LockHolder | null) {
    super(
      `Cannot write "${dir}": another command is using it (${
        holder
          ? `pid ${holder.pid}, "${holder.command}", since ${localTime(holder.since)}`
          : "its lock file does not say which"
      }); wait for it to finish or choose another folder`,
    );
  }
}

/** The folder holds entries no command of ours wrote (or something of theirs where ours goes): refused. */
export class FolderNotOursError extends Error {}

/** `deno task NAME ARGS` as a user types it, for the lock file. */
export function taskCommand(task: string, args: readonly string[]): string {
  const quote = (a: string) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
  return ["deno", "task", task, ...args.map(quote)].join(" ");
}

/** This process as the lock file names it when the caller gives no command line: its main module and arguments. */
function thisProcess(): string {
  const main = Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule;
  return ["deno", "run", main, ...Deno.args].join(" ");
}

/**
 * Takes the lock of `dir` (a folder that exists) for this process, or throws
 * FolderBusyError naming the command that holds it. `command` is the command
 * line the lock file names.
 *
 * @example
 * ```ts
 * import { FolderBusyError, lockFolder } from "./out_folder.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await lockFolder(dir, "deno task web:build --out x");
 * const second = await lockFolder(dir, "another").then(() => null, (e) => e);
 * if (!(second instanceof FolderBusyError) || !second.message.includes("web:build")) throw new Error("not refused");
 * lock.release();
 * (await lockFolder(dir, "another")).release();
 * await Deno.remove(dir);
 * ```
 */
export async function lockFolder(dir: string, command: string = thisProcess()): Promise<FolderLock> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 1; attempt <= 20; attempt++) {
    const file = await openLockFile(dir, path);
    try {
      if (!(await file.tryLock(true))) throw new FolderBusyError(dir, await readHolder(file));
      if (await isAt(file, path)) {
        const holder: LockHolder = { pid: Deno.pid, command, since: new Date().toISOString() };
        await file.truncate(0);
        const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
        for (let n = 0; n < bytes.length;) n += await file.write(bytes.subarray(n));
        return heldLock(dir, path, file);
      }
    } catch (e) {
      file.close();
      throw e;
    }
    // Its last holder removed the file between our open and our lock: lock the file now at the path.
    file.close();
  }
  throw new Error(`Cannot lock "${dir}": its ${LOCK_FILE} keeps being replaced`);
}

/** Takes the lock of `dir`, making the folder (and its parents) first if need be. */
export async function claimFolder(dir: string, command?: string): Promise<FolderLock> {
  await Deno.mkdir(dir, { recursive: true }).catch((e) => {
    throw new Error(`Cannot create the folder "${dir}": ${fileProblem(e)}`);
  });
  return await lockFolder(dir, command);
}

/**
 * The lock file, created new or opened as it is (again if its holder removes
 * it meanwhile): a symlink or anything but a regular file is refused, unopened.
 */
async function openLockFile(dir: string, path: string): Promise<Deno.FsFile> {
  const fail = (e: unknown) => new Error(`Cannot lock "${dir}": ${fileProblem(e)}`);
  for (;;) {
    try {
      return await Deno.open(path, { read: true, write: true, createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw fail(e);
    }
    const info = await Deno.lstat(path).catch(() => null);
    if (info && !info.isFile) {
      throw new FolderNotOursError(
        `Cannot lock "${dir}": its ${LOCK_FILE} is ${info.isSymlink ? "a symbolic link" : "not a regular file"}; ` +
          `a command of ours never makes one (remove it, or choose another folder)`,
      );
    }
    try {
      return await Deno.open(path, { read: true, write: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fail(e);
    }
  }
}

/** True if `file` is the regular file at `path` now (not removed, not replaced by another file or a symlink). */
async function isAt(file: Deno.FsFile, path: string): Promise<boolean> {
  const open = await file.stat(), named = await Deno.lstat(path).catch(() => null);
  return named !== null && named.isFile && open.ino === named.ino && open.dev === named.dev;
}

function heldLock(dir: string, path: string, file: Deno.FsFile): FolderLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    // Removed while still locked: a command that opened it meanwhile finds, once it has the lock, that the file
    // is no longer at the path, and locks the one there (lockFolder's isAt).
    let named: Deno.FileInfo | null = null;
    try {
      named = Deno.lstatSync(path);
    } catch { /* the folder itself was removed */ }
    const open = file.statSync();
    if (named?.isFile && named.ino === open.ino && named.dev === open.dev) {
      try {
        Deno.removeSync(path);
      } catch { /* the folder itself was removed */ }
    }
    file.close();
  };
  return { dir, release, [Symbol.dispose]: release };
}

/**
 * The holder a locked file names. It writes its name just after taking the
 * lock: an empty or half-written file is read again for up to half a second.
 */
async function readHolder(file: Deno.FsFile): Promise<LockHolder | null> {
  const buf = new Uint8Array(4096); // a holder's line is about 150 bytes
  for (let attempt = 0; attempt < 25; attempt++) {
    await file.seek(0, Deno.SeekMode.Start);
    const n = await file.read(buf) ?? 0;
    try {
      const h = JSON.parse(new TextDecoder().decode(buf.subarray(0, n)));
      if (Number.isSafeInteger(h?.pid) && typeof h.command === "string" && typeof h.since === "string") {
        return { pid: h.pid, command: h.command.slice(0, 500), since: h.since.slice(0, 40) };
      }
    } catch { /* not written yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** An ISO time as local `YYYY-MM-DD HH:MM:SS` (as it is if it is not a time). */
function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  const time = [d.getHours(), d.getMinutes(), d.getSeconds()].map(p).join(":");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

/** `"a", "b", "c" and 2 more`: the first few names of a list, quoted. */
export function someNames(names: readonly string[], shown = 5): string {
  const list = names.slice(0, shown).map((n) => `"${n}"`).join(", ");
  return names.length > shown ? `${list} and ${names.length - shown} more` : list;
}

/** A kind of folder written as a whole by writeFolderAtomic. */
export interface FolderKind {
  /** What it is, for messages: "the site". */
  readonly what: string;
  /** The manifest's file name in the folder, e.g. ".lenet5-site.json". */
  readonly manifest: string;
  /** The manifest's `format` field. */
  readonly format: string;
}

/** The largest manifest read. */
const MAX_MANIFEST_BYTES = 1 << 20;

/** The temporary folder writeFolderAtomic builds in, inside the folder: `.lenet5-tmp-PID-N`. */
const TEMP_FOLDER = /^\.lenet5-tmp-\d+-\d+$/;
let nextTempFolder = Date.now();

/** The files a manifest lists, or null when there is none, or it is not a regular file of this kind. */
async function readManifest(dir: string, kind: FolderKind): Promise<string[] | null> {
  const path = join(dir, kind.manifest);
  const info = await Deno.lstat(path).catch(() => null);
  if (!info?.isFile) return null;
  try {
    const m = JSON.parse(new TextDecoder().decode(
      await readFileBounded(path, MAX_MANIFEST_BYTES, (p) => {
        throw new Error(p);
      }),
    ));
    const files: unknown = m?.files;
    if (m?.format !== kind.format || m.version !== 1 || !Array.isArray(files)) return null;
    // Only plain relative paths: a manifest never makes anything outside the folder ours.
    const plain = (f: unknown) =>
      typeof f === "string" && f.split("/").every((part) => part !== "" && part !== "." && part !== "..") &&
      !f.includes("\\");
    return files.every(plain) ? files as string[] : null;
  } catch {
    return null;
  }
}

/** The folders the files are in, relative, parents first: "models" for "models/a.json". */
function foldersOf(files: readonly string[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const parts = f.split("/");
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join("/"));
  }
  return [...out].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

/**
 * What `dir` holds that is not ours, sorted ("notes.txt", "photos/"): ours
 * are the regular files its manifest lists and their folders, the manifest,
 * the lock file and our temporaries. A symlink is never ours. Also returns
 * the files the manifest lists (none without one).
 */
async function foreignEntries(dir: string, kind: FolderKind): Promise<{ foreign: string[]; listed: string[] }> {
  const listed = await readManifest(dir, kind);
  const files = new Set(listed ?? []), folders = new Set(foldersOf(listed ?? []));
  const foreign: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && isBookkeeping(e, kind, listed !== null)) continue;
      if (e.isFile && files.has(path)) continue;
      if (e.isDirectory && folders.has(path)) await walk(path);
      else foreign.push(e.isDirectory ? `${path}/` : path);
    }
  };
  await walk("");
  return { foreign: foreign.sort(), listed: listed ?? [] };
}

/** The lock file, the manifest and the temporaries of a build: ours in any folder of this kind. */
function isBookkeeping(e: Deno.DirEntry, kind: FolderKind, manifestOk: boolean): boolean {
  if (e.isDirectory) return TEMP_FOLDER.test(e.name);
  return e.isFile &&
    (e.name === LOCK_FILE || (manifestOk && e.name === kind.manifest) || isTemporaryOf(e.name, kind.manifest));
}

/**
 * Refuses `dir` unless it is ours (FolderNotOursError naming a few of the
 * entries that are not): missing, empty, or holding only what a build of
 * this kind wrote. With `force` anything is accepted. Reads, never writes.
 */
export async function checkFolderIsOurs(dir: string, kind: FolderKind, force = false): Promise<void> {
  await ourFiles(dir, kind, force);
}

/** The files of ours that `dir` holds (as its manifest lists them); throws as checkFolderIsOurs does. */
async function ourFiles(dir: string, kind: FolderKind, force = false): Promise<string[]> {
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`Cannot write ${kind.what} to "${dir}": ${fileProblem(e)}`);
  });
  if (info && !info.isDirectory) {
    throw new FolderNotOursError(`Cannot write ${kind.what} to "${dir}": it is a file, not a folder`);
  }
  if (!info) return [];
  const { foreign, listed } = await foreignEntries(dir, kind);
  if (foreign.length && !force) {
    const entries = foreign.length === 1 ? "entry" : "entries", names = someNames(foreign);
    throw new FolderNotOursError(
      `Cannot write ${kind.what} to "${dir}": it holds ${foreign.length} ${entries} that no build of ours wrote (${names}); ` +
        `choose another folder, or pass --force to write ${kind.what}'s files over those of the same name (the others stay)`,
    );
  }
  return listed;
}

/**
 * Writes the folder `dir` as a whole: `fill` writes every file into a new
 * temporary folder inside `dir`; then each is moved into place by rename
 * (replacing a symlink at its name, never writing through it), the files an
 * earlier build listed but this one lacks are removed, and the manifest
 * listing the files is written last. If anything fails before the files
 * are moved (a full disk), `dir` keeps what it held, and the temporary
 * folder is removed whatever happens. `dir` must be ours (checkFolderIsOurs)
 * unless `force`; its lock is taken here, or `lock` is the one the caller
 * holds. Entries of others stay, unless they sit where one of ours goes.
 */
export async function writeFolderAtomic(
  dir: string,
  fill: (tmp: string) => Promise<void>,
  kind: FolderKind,
  options: { force?: boolean; lock?: FolderLock; command?: string } = {},
): Promise<void> {
  await checkFolderIsOurs(dir, kind, options.force);
  const lock = options.lock ?? await claimFolder(dir, options.command);
  try {
    // Checked again, now that no other command of ours can write it; what a stopped build left goes.
    const listed = await ourFiles(dir, kind, options.force);
    for await (const e of Deno.readDir(dir)) {
      if (e.name !== LOCK_FILE && isBookkeeping(e, kind, false)) {
        await Deno.remove(join(dir, e.name), { recursive: true });
      }
    }
    const tmp = join(dir, `.lenet5-tmp-${Deno.pid}-${nextTempFolder++}`);
    await Deno.mkdir(tmp);
    try {
      await fill(tmp);
      await place(dir, tmp, listed, kind);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  } finally {
    if (!options.lock) lock.release();
  }
}

/** Moves the files in `tmp` into `dir`, removes those of `listed` it lacks, and writes the manifest. */
async function place(dir: string, tmp: string, listed: readonly string[], kind: FolderKind): Promise<void> {
  const files = (await filesIn(tmp)).sort(), folders = foldersOf(files);
  await makeFolders(dir, folders, kind);
  for (const f of files) {
    if ((await Deno.lstat(join(dir, f)).catch(() => null))?.isDirectory) {
      throw new FolderNotOursError(
        `Cannot write ${kind.what} to "${dir}": "${f}" is a folder, where ${kind.what} puts a file; remove it, or ` +
          `choose another folder`,
      );
    }
  }
  // Listed before they are moved in: a build stopped half-way leaves a folder the next one knows as ours.
  await writeManifest(dir, kind, [...new Set([...listed, ...files])].sort());
  for (const f of files) await Deno.rename(join(tmp, f), join(dir, f));
  const kept = new Set(files);
  for (const f of listed) {
    if (!kept.has(f) && (await Deno.lstat(join(dir, f)).catch(() => null))?.isFile) await Deno.remove(join(dir, f));
  }
  for (const d of foldersOf(listed).reverse()) {
    if (!folders.includes(d)) await Deno.remove(join(dir, d)).catch(() => {}); // only if empty
  }
  await writeManifest(dir, kind, files);
}

/** The regular files under `dir`, relative ("models/a.json"). */
async function filesIn(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, rel))) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await filesIn(dir, path));
    else if (e.isFile) out.push(path);
  }
  return out;
}

/** Makes the folders our files go in; a symlink or a file of theirs at such a name (with --force) is replaced. */
async function makeFolders(dir: string, folders: readonly string[], kind: FolderKind): Promise<void> {
  for (const f of folders) {
    const path = join(dir, f);
    const info = await Deno.lstat(path).catch(() => null);
    if (info?.isDirectory) continue;
    if (info) await Deno.remove(path);
    await Deno.mkdir(path).catch((e) => {
      throw new Error(`Cannot write ${kind.what} to "${dir}": cannot create "${f}": ${fileProblem(e)}`);
    });
  }
}

async function writeManifest(dir: string, kind: FolderKind, files: readonly string[]): Promise<void> {
  const manifest = { format: kind.format, version: 1, files };
  await writeFileAtomic(join(dir, kind.manifest), JSON.stringify(manifest, null, 2) + "\n");
}
