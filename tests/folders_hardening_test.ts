/**
 * The commands that write folders, as users run them (issue 26): web:build
 * and web refuse a folder they do not own unless --force, never write
 * through a symlink, build atomically (a full disk leaves the last site as
 * it was), and hold a lock on their folder, so that a second writer (two
 * trainings on one folder, two servers) fails at once naming the first;
 * web binds its port before it writes anything; export without --force
 * never replaces a file that appears while it works.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { FolderBusyError, LOCK_FILE, lockFolder } from "../data/out_folder.ts";
import { buildModel } from "../engine/model.ts";
import { saveModel, writeFileAtomic } from "../engine/model_file.ts";
import { PRESETS } from "../presets/presets.ts";
import { SITE_FOLDER } from "../web/build.ts";
import { withTempDir } from "./_files.ts";
import { failed, ROOT, run, spawnTask, task } from "./_task.ts";

type Entry = { link: string } | { bytes: Uint8Array } | "folder";

/** Everything under `dir`: files with their bytes, symlinks with their target, folders. */
async function snapshot(dir: string, rel = ""): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  for await (const e of Deno.readDir(join(dir, rel))) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isSymlink) out[path] = { link: await Deno.readLink(join(dir, path)) };
    else if (e.isDirectory) (out[path] = "folder", Object.assign(out, await snapshot(dir, path)));
    else out[path] = { bytes: await Deno.readFile(join(dir, path)) };
  }
  return out;
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
const temporaries = async (dir: string) =>
  Object.keys(await snapshot(dir)).filter((p) => p.includes(".tmp-") || p.includes(".lenet5-tmp-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock holder's pid, once `dir`'s lock file names one (a command that took the lock). */
async function holderPid(dir: string): Promise<number> {
  for (let i = 0; i < 1200; i++) {
    try {
      const pid = JSON.parse(await Deno.readTextFile(join(dir, LOCK_FILE))).pid;
      if (Number.isSafeInteger(pid)) return pid;
    } catch { /* not there yet */ }
    await sleep(50);
  }
  throw new Error(`no command took the lock of ${dir}`);
}

/** Waits until process `pid` has ended (gone from /proc, or a zombie); fails if it is still running. */
async function assertEnded(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => null);
    if (stat === null || /^\d+ \(.*\) Z/.test(stat)) return;
    await sleep(50);
  }
  assert.fail(`process ${pid} is still running`);
}

/** A started `deno task` child: its first line of output, and the rest once it ends. */
function started(child: Deno.ChildProcess) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let seen = "";
  const firstLine = (async () => {
    while (!seen.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    return seen.split("\n")[0];
  })();
  const rest = firstLine.then(async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += r.value;
    return seen;
  });
  return {
    firstLine,
    /** Waits for the child to end (after sending it `signal`, if it still runs). */
    async end(signal?: Deno.Signal) {
      if (signal) {
        try {
          child.kill(signal);
        } catch { /* it has ended */ }
      }
      const [status, stdout, err] = await Promise.all([child.status, rest, stderr]);
      return { code: status.code, stdout, stderr: err };
    },
  };
}

Deno.test("folders: web:build refuses a folder of someone else's files, byte for byte; --force writes ours, leaves theirs", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "models"));
    await Deno.writeTextFile(join(dir, "index.html"), "<h1>my page</h1>");
    await Deno.writeTextFile(join(dir, "models", "index.json"), '["my model"]');
    await Deno.writeTextFile(join(dir, "notes.txt"), "my notes");
    const before = await snapshot(dir);
    const r = await task("web:build", "--out", dir);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `error: Cannot write the site to "${dir}": it holds 3 entries that no build of ours wrote ("index.html", ` +
        `"models/", "notes.txt"); choose another folder, or pass --force to write the site's files over those of the ` +
        `same name (the others stay)\n`,
    );
    assert.deepEqual(await snapshot(dir), before, "nothing written, not even the lock file");

    const forced = await task("web:build", "--out", dir, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(
      await Deno.readFile(join(dir, "index.html")),
      await Deno.readFile(join(ROOT, "web", "index.html")),
    );
    const models = JSON.parse(await Deno.readTextFile(join(dir, "models", "index.json")));
    assert.deepEqual(models.map((m: { model: string }) => m.model), ["lenet5.json", "lenet5-modern.json"]);
    assert.equal(await Deno.readTextFile(join(dir, "notes.txt")), "my notes", "theirs left alone");
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, SITE_FOLDER.manifest)));
    assert.equal(manifest.format, "lenet5-ts/site");
    const files = Object.entries(await snapshot(dir)).filter(([, e]) => e !== "folder").map(([p]) => p).sort();
    assert.deepEqual(manifest.files, files.filter((p) => p !== "notes.txt" && p !== SITE_FOLDER.manifest));
    assert.ok(manifest.files.includes("app.js") && manifest.files.includes("models/lenet5.layers.onnx"));
    assert.deepEqual(await temporaries(dir), []);
    assert.equal(await exists(join(dir, LOCK_FILE)), false, "the lock file goes with the command");

    // notes.txt is still someone else's: without --force the folder is still refused, naming only it.
    const again = await task("web:build", "--out", dir);
    failed(again, 2, /it holds 1 entry that no build of ours wrote \("notes\.txt"\)/);
  });
});

Deno.test("folders: a symlink in a built site is refused, not followed; with --force it is replaced, its target untouched", async () => {
  await withTempDir(async (base) => {
    const dir = join(base, "site"), outside = join(base, "outside.css");
    assert.equal((await task("web:build", "--out", dir)).code, 0);
    await Deno.writeTextFile(outside, "body { color: red }");
    await Deno.remove(join(dir, "style.css"));
    await Deno.symlink(outside, join(dir, "style.css"));
    const before = await snapshot(dir);
    // A symlink where the build put a file is not its own: refused, so the link keeps pointing outside.
    const r = await task("web:build", "--out", dir);
    failed(r, 2, /it holds 1 entry that no build of ours wrote \("style\.css"\)/);
    assert.deepEqual(await snapshot(dir), before);
    assert.equal(await Deno.readTextFile(outside), "body { color: red }");
    // With --force the build's own file replaces the link (a rename), and the file outside stays as it was.
    const forced = await task("web:build", "--out", dir, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok((await Deno.lstat(join(dir, "style.css"))).isFile);
    assert.deepEqual(await Deno.readFile(join(dir, "style.css")), await Deno.readFile(join(ROOT, "web", "style.css")));
    assert.equal(await Deno.readTextFile(outside), "body { color: red }");
    // A symlink planted as the lock file is not ours either, and even with --force the command never opens it.
    await Deno.symlink(outside, join(dir, LOCK_FILE));
    const planted = await task("web:build", "--out", dir);
    failed(planted, 2, /it holds 1 entry that no build of ours wrote \("\.lenet5-lock"\)/);
    const plantedForced = await task("web:build", "--out", dir, "--force");
    failed(plantedForced, 2, /^error: Cannot lock ".*site": its \.lenet5-lock is a symbolic link; /);
    assert.equal(await Deno.readTextFile(outside), "body { color: red }");
  });
});

Deno.test("folders: a build that fails half-way (a full disk) leaves the last site byte for byte, and no temporaries", async () => {
  await withTempDir(async (base) => {
    const dir = join(base, "site");
    assert.equal((await task("web:build", "--out", dir)).code, 0);
    // An older build: our files, listed in the manifest, with other bytes than a new build writes.
    await Deno.writeTextFile(join(dir, "app.js"), "// an older app.js");
    await Deno.writeTextFile(join(dir, "models", "index.json"), "[]");
    const before = await snapshot(dir);
    // A file size limit just under the largest file: every write fails with EFBIG past it, as on a full disk. The
    // bundles, pages and models all fit, so the build fails part-way, after writing most of its files.
    const sizes = Object.values(before).flatMap((e) => typeof e === "object" && "bytes" in e ? [e.bytes.length] : [])
      .sort((a, b) => b - a);
    const blocks = Math.floor((sizes[0] - 1) / 1024);
    assert.ok(sizes[1] < blocks * 1024 && sizes.length > 10, "all files but the largest fit");
    const limited = ["-c", 'ulimit -f "$1"; shift; exec "$@"', "bash", String(blocks), Deno.execPath()];
    const { code, stderr } = await run("bash", [...limited, "task", "--quiet", "web:build", "--out", dir], {
      cwd: ROOT,
    });
    assert.equal(code, 1, stderr);
    assert.equal(stderr, `error: Cannot build the site in "${dir}": file too large\n`, "one line, no stack trace");
    assert.deepEqual(await snapshot(dir), before, "the last site, byte for byte");
    assert.deepEqual(await temporaries(dir), []);
    assert.equal(await exists(join(dir, LOCK_FILE)), false);
    // The folder is still ours: a build with room replaces the older files.
    assert.equal((await task("web:build", "--out", dir)).code, 0);
    assert.notEqual(await Deno.readTextFile(join(dir, "app.js")), "// an older app.js");
  });
});

Deno.test("folders: two deno task train --out SAME at once: one runs, the other fails at once naming it", async () => {
  await withTempDir(async (base) => {
    const dir = join(base, "same");
    const quick = ["--quiet", "--limit", "200", "--epochs", "1", "--steps", "50", "--out", dir];
    const first = started(spawnTask("train", ...quick, "--seed", "1"));
    const pid = await holderPid(dir);
    // Stopped while it holds the lock, so the two surely overlap.
    Deno.kill(pid, "SIGSTOP");
    let second;
    try {
      second = await task("train", ...quick, "--seed", "2");
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
    const holder = new RegExp(
      `^error: Cannot write ".*same": another command is using it \\(pid ${pid}, "deno task train --quiet ` +
        `--limit 200 --epochs 1 --steps 50 --out \\S+same --seed 1", since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\); ` +
        `wait for it to finish or choose another folder\\n$`,
    );
    failed(second, 1, holder);
    assert.doesNotMatch(second.stdout, /Data:/, "it failed before reading the data");
    const r = await first.end();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Done: test error/);
    await assertEnded(pid);
    const checkpoint = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
    assert.equal(checkpoint.settings.seed, 1);
    assert.equal(checkpoint.fit.passesDone, 1);
    assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "summary.json"))).seed, 1);
    assert.deepEqual(await temporaries(dir), []);
    assert.equal(await exists(join(dir, LOCK_FILE)), false);
    // Once the first is done the folder holds a run: a second run is refused as before, a resume may go on.
    const after = await task("train", ...quick, "--seed", "2");
    failed(after, 2, /already holds a run; pass --resume/);
  });
});

Deno.test("folders: a second deno task web (or web:build) on a served folder fails at once naming the first", async () => {
  await withTempDir(async (base) => {
    const dir = join(base, "site");
    const first = started(spawnTask("web", "--port", "0", "--out", dir));
    let pid = 0;
    try {
      const line = await first.firstLine;
      const url = line.match(/^LeNet-5 page: (http:\/\/127\.0\.0\.1:\d+\/) /)?.[1];
      assert.ok(url, line);
      pid = await holderPid(dir);
      assert.equal(await fetch(`${url}api/models`).then((r) => r.body?.cancel().then(() => r.status)), 200);
      const before = await snapshot(dir);
      const holder = new RegExp(
        `^error: Cannot write ".*site": another command is using it \\(pid ${pid}, "deno task web --port 0 --out ` +
          `\\S+site", since [\\d-]+ [\\d:]+\\); wait for it to finish or choose another folder\\n$`,
      );
      for (const args of [["web", "--port", "0", "--out", dir], ["web:build", "--out", dir]]) {
        const r = await task(args[0], ...args.slice(1));
        failed(r, 1, holder, args.join(" "));
      }
      assert.deepEqual(await snapshot(dir), before, "the folder untouched");
      const page = await fetch(url);
      assert.equal(page.status, 200, "the first still serves");
      assert.deepEqual(new Uint8Array(await page.arrayBuffer()), await Deno.readFile(join(ROOT, "web", "index.html")));
    } finally {
      const r = await first.end("SIGTERM");
      assert.equal(r.code, 0, r.stderr);
    }
    await assertEnded(pid);
    assert.equal(await exists(join(dir, LOCK_FILE)), false, "stopped, it let go of the folder");
  });
});

Deno.test("folders: web refuses a folder of others as web:build does, serves it with --force; a killed server holds no lock", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "index.html"), "<h1>my page</h1>");
    const before = await snapshot(dir);
    const refused = await task("web", "--port", "0", "--out", dir);
    failed(refused, 2, /^error: Cannot write the site to ".*": it holds 1 entry .*\("index\.html"\)/);
    assert.deepEqual(await snapshot(dir), before);

    const server = started(spawnTask("web", "--port", "0", "--out", dir, "--force"));
    let pid = 0;
    try {
      assert.match(await server.firstLine, /^LeNet-5 page: http:\/\/127\.0\.0\.1:\d+\//);
      pid = await holderPid(dir);
      assert.deepEqual(
        await Deno.readFile(join(dir, "index.html")),
        await Deno.readFile(join(ROOT, "web", "index.html")),
      );
      // Killed outright, it cannot remove its lock file; the OS has released the lock all the same.
      Deno.kill(pid, "SIGKILL");
    } finally {
      await server.end();
    }
    await assertEnded(pid);
    assert.ok(await exists(join(dir, LOCK_FILE)), "the killed server's lock file is left");
    const rebuilt = await task("web:build", "--out", dir);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.equal(await exists(join(dir, LOCK_FILE)), false);
  });
});

Deno.test("folders: deno task web on a port in use fails with a message naming it and writes nothing", async () => {
  await withTempDir(async (base) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = listener.addr.port;
      const fresh = join(base, "new-site"), built = join(base, "site");
      assert.equal((await task("web:build", "--out", built)).code, 0);
      const before = await snapshot(built);
      for (const dir of [fresh, built]) {
        const r = await task("web", "--port", String(port), "--out", dir);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(
          r.stderr,
          `error: Cannot serve on 127.0.0.1:${port}: the port is in use (another server?); pass --port N\n`,
        );
      }
      assert.equal(await exists(fresh), false, "no folder made");
      assert.deepEqual(await snapshot(built), before, "the built site untouched");
    } finally {
      listener.close();
    }
  });
});

Deno.test("folders: export without --force never replaces a file that appears while it works, nor a symlink", async () => {
  await withTempDir(async (dir) => {
    // A model whose .onnx takes a while to write (8 MB), so that a file can appear at --out meanwhile.
    const graph = {
      input: [1, 32, 32],
      layers: [{ type: "flatten" }, { type: "full", units: 2000 }, { type: "tanh" }, { type: "full", units: 10 }],
      loss: { type: "softmax-cross-entropy" },
    };
    const modelFile = join(dir, "big.json"), out = join(dir, "big.onnx");
    await saveModel(modelFile, buildModel(graph, { registry: defaultRegistry, seed: 1 }));
    let raced = 0;
    for (let round = 0; round < 8 && raced < 1; round++) {
      await Deno.remove(out).catch(() => {});
      const watcher = Deno.watchFs(dir);
      const exporter = spawnTask("export", "--model", modelFile, "--out", out);
      const child = started(exporter);
      exporter.status.then(() => watcher.close()).catch(() => {}); // no temporary file ever: stop waiting
      // The moment its temporary file appears, a file of someone else's is made at --out.
      let mine = false;
      for await (const event of watcher) {
        if (event.kind === "create" && event.paths.some((p) => p.includes("big.onnx.tmp-"))) {
          mine = await Deno.writeTextFile(out, "mine", { createNew: true }).then(() => true, () => false);
          break;
        }
      }
      try {
        watcher.close();
      } catch { /* closed when the export ended */ }
      const r = await child.end();
      if (!mine) continue; // the export placed its file first: no race this round
      raced++;
      failed(r, 2, /^error: Option --out: ".*big\.onnx" exists already; pass --force to overwrite it\n$/);
      assert.equal(await Deno.readTextFile(out), "mine");
      assert.deepEqual(await temporaries(dir), []);
    }
    assert.equal(raced, 1, "a file appeared at --out while the export was writing, in one of 8 tries");

    // A symlink at --out (here a dangling one) is refused without --force, and replaced with it, never followed.
    const small = join(dir, "lenet5.json"), link = join(dir, "link.onnx"), target = join(dir, "target.onnx");
    await saveModel(small, buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 }));
    await Deno.symlink(target, link);
    const refused = await task("export", "--model", small, "--out", link);
    failed(refused, 2, /link\.onnx" exists already; pass --force/);
    assert.equal(await exists(target), false, "nothing written through the link");
    const forced = await task("export", "--model", small, "--out", link, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok((await Deno.lstat(link)).isFile, "the link replaced by the file");
    assert.equal(await exists(target), false);
  });
});

Deno.test("folders: writeFileAtomic replaces a symlink without following it; createNew never replaces anything", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "target.txt"), link = join(dir, "link.txt");
    await Deno.writeTextFile(target, "theirs");
    await Deno.symlink(target, link);
    await writeFileAtomic(link, "ours");
    assert.ok((await Deno.lstat(link)).isFile);
    assert.equal(await Deno.readTextFile(link), "ours");
    assert.equal(await Deno.readTextFile(target), "theirs");
    const dangling = join(dir, "dangling.txt");
    await Deno.symlink(join(dir, "nowhere.txt"), dangling);
    for (const path of [target, dangling]) {
      await assert.rejects(writeFileAtomic(path, "new", { createNew: true }), Deno.errors.AlreadyExists);
    }
    assert.equal(await Deno.readTextFile(target), "theirs");
    assert.equal(await Deno.readLink(dangling), join(dir, "nowhere.txt"));
    assert.equal(await exists(join(dir, "nowhere.txt")), false);
    await writeFileAtomic(join(dir, "new.txt"), "new", { createNew: true });
    assert.equal(await Deno.readTextFile(join(dir, "new.txt")), "new");
    assert.deepEqual(await temporaries(dir), []);
  });
});

Deno.test("folders: the lock has one holder at a time, while holders come and go and remove its file", async () => {
  await withTempDir(async (dir) => {
    // Four writers (each lock is its own open file, so they exclude each other as processes do) take the lock 150
    // times each; a writer that opened the file just as its holder removed it must not count as a holder.
    let inside = 0, overlaps = 0, refusals = 0;
    const writer = async (name: string) => {
      for (let held = 0; held < 150;) {
        try {
          const lock = await lockFolder(dir, name);
          held++;
          if (inside++) overlaps++;
          await sleep(0);
          inside--;
          lock.release();
        } catch (e) {
          if (!(e instanceof FolderBusyError)) throw e;
          refusals++;
        }
      }
    };
    await Promise.all(["a", "b", "c", "d"].map(writer));
    assert.equal(overlaps, 0);
    assert.ok(refusals > 0, "the writers did meet each other");
    assert.equal(await exists(join(dir, LOCK_FILE)), false);
  });
});
