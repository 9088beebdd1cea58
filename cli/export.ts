/**
 * `deno task export`: a saved model as a .onnx file of standard ops, for
 * onnxruntime or any other ONNX runtime.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { describeNonFiniteOutput, firstNonFiniteOutput } from "../engine/finite.ts";
import { loadModel, removeStaleTemporaries, writeFileAtomic } from "../engine/model_file.ts";
import { ONNX_OPSET, onnxModel } from "../export/onnx.ts";
import { encodeModel, type ValueInfoProto } from "../export/proto.ts";
import { fsError, OptionError, runCommand } from "./_command.ts";

const HELP = `Usage: deno task export --model RUN_DIR_OR_FILE --out FILE.onnx [--force]
                        [--raw-input [--raw-type uint8|float32]]

Exports a saved model to ONNX (opset ${ONNX_OPSET}, standard ops only, every weight an
initializer). The graph's outputs are "scores" (RBF distances or logits),
"probabilities" and "class" (int64); the batch dimension N is dynamic.

  --model PATH      a run folder (its model.json) or a model file
  --out FILE        the .onnx file to write
  --raw-input       put the paper's preprocessing in the graph: it then reads "image",
                    raw 28x28 grey levels 0..255 (0 = background), instead of "input",
                    the preprocessed 1x32x32 the engine reads
  --raw-type TYPE   element type of "image": uint8 (default) or float32
  --force           overwrite FILE.onnx if it exists
  -h, --help        show this help
  --version         print the version (from deno.json)
`;

const ELEM_TYPES: Record<number, string> = { 1: "float32", 2: "uint8", 7: "int64" };

function describe(v: ValueInfoProto): string {
  return `${v.name} ${ELEM_TYPES[v.elemType]} [${v.shape.join(", ")}]`;
}

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const options = {
    model: { type: "string" },
    out: { type: "string" },
    "raw-input": { type: "boolean", default: false },
    "raw-type": { type: "string" },
    force: { type: "boolean", default: false },
  } as const;
  return runCommand(args, options, HELP, async (values) => {
    if (!values.model) throw new OptionError("Option --model is required (a run folder or a model file)");
    if (!values.out) throw new OptionError("Option --out is required (the .onnx file to write)");
    const rawType = values["raw-type"] as string | undefined;
    if (rawType !== undefined && !values["raw-input"]) {
      throw new OptionError("Option --raw-type needs --raw-input (it is the element type of the raw images)");
    }
    if (rawType !== undefined && rawType !== "uint8" && rawType !== "float32") {
      throw new OptionError(`Option --raw-type must be uint8 or float32, got "${rawType}"`);
    }
    const out = values.out as string;
    // A symlink at --out is a file there (a dangling one too): refused without --force, replaced with it.
    const existing = await Deno.lstat(out).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return null;
      throw fsError(e, "write", out, "out");
    });
    const target = existing?.isSymlink ? await Deno.stat(out).catch(() => null) : existing;
    if (target?.isDirectory) {
      throw new OptionError(`Option --out: "${out}" is a folder; give the .onnx file to write`);
    }
    const exists = () => new OptionError(`Option --out: "${out}" exists already; pass --force to overwrite it`);
    if (existing && !values.force) throw exists();
    let path = values.model as string;
    if ((await Deno.stat(path).catch(() => null))?.isDirectory) path = join(path, "model.json");
    const model = await loadModel(path, defaultRegistry);
    const overflow = firstNonFiniteOutput(model);
    if (overflow) {
      throw new Error(
        `Cannot export "${path}": ${describeNonFiniteOutput(overflow)}; its weights are finite but too large ` +
          `(the outputs overflow), so no runtime could answer with it`,
      );
    }
    await removeStaleTemporaries(dirname(out), [basename(out)]);
    const onnx = onnxModel(model, {
      rawInput: values["raw-input"] ? (rawType ?? "uint8") as "uint8" | "float32" : undefined,
    });
    const bytes = encodeModel(onnx);
    try {
      // Without --force a file that appeared at --out meanwhile is not replaced either.
      await writeFileAtomic(out, bytes, { createNew: !values.force });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) throw exists();
      if (e instanceof Deno.errors.NotFound) throw new Error(`Cannot write "${out}": its folder does not exist`);
      throw fsError(e, "write", out, "out");
    }
    const g = onnx.graph;
    console.log(
      `Wrote ${out} (${bytes.length.toLocaleString("en-US")} bytes, opset ${ONNX_OPSET}) from ${path}\n` +
        `  input:   ${g.inputs.map(describe).join(", ")}\n` +
        `  outputs: ${g.outputs.map(describe).join(", ")}\n` +
        `  ${g.nodes.length} nodes (${[...new Set(g.nodes.map((n) => n.opType))].join(", ")}), ` +
        `${g.initializers.length} initializers`,
    );
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
