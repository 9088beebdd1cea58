/**
 * Reading the float initializers of any .onnx file (not only ours) to find
 * weights that are not finite numbers: a model exported from a diverged run
 * answers NaN on one backend and finite nonsense on another (WebGPU shaders
 * need not propagate NaN), so `deno task predict` checks the file itself.
 *
 * Only what that needs of the protobuf encoding: ModelProto.graph (field 7),
 * GraphProto.initializer (5), TensorProto name (8), data_type (2),
 * float_data (4) and raw_data (9).
 *
 * @module
 */

/** Where the first non-finite float of an initializer sits. */
export interface NonFiniteWeight {
  /** The initializer's name, e.g. "C3.weight". */
  readonly name: string;
  /** Index within that initializer's values. */
  readonly index: number;
  /** The value found there: NaN, Infinity or -Infinity. */
  readonly value: number;
}

/** A malformed protobuf: the message says where. */
export class OnnxFormatError extends Error {
  /** `"OnnxFormatError"`: the name stack traces and `String(error)` show. */
  override name = "OnnxFormatError";
}

/** The fields of one protobuf message: [field number, wire type, value or bytes]. */
function* fields(b: Uint8Array): Generator<[number, number, number | Uint8Array]> {
  let at = 0;
  const varint = (): number => {
    let v = 0, scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= b.length) throw new OnnxFormatError(`truncated varint at byte ${at}`);
      const byte = b[at++];
      v += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return v;
      scale *= 128;
    }
    throw new OnnxFormatError(`varint too long at byte ${at}`);
  };
  while (at < b.length) {
    const key = varint(), field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (at + n > b.length) throw new OnnxFormatError(`truncated fixed field ${field} at byte ${at}`);
      yield [field, wire, b.subarray(at, at + n)];
      at += n;
    } else if (wire === 2) {
      const n = varint();
      if (at + n > b.length) throw new OnnxFormatError(`field ${field} runs past the end (byte ${at} + ${n})`);
      yield [field, wire, b.subarray(at, at + n)];
      at += n;
    } else throw new OnnxFormatError(`unsupported wire type ${wire} for field ${field} at byte ${at}`);
  }
}

const FLOAT = 1;

/**
 * The first float32 initializer value of an ONNX model that is NaN or
 * infinite, or null when they are all finite (or it has none).
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, exportOnnx, PRESETS } from "../mod.ts";
 * import { firstNonFiniteWeight } from "./weights.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * if (firstNonFiniteWeight(exportOnnx(model)) !== null) throw new Error("all finite");
 * model.layers[0].params[0][3] = NaN;
 * if (firstNonFiniteWeight(exportOnnx(model))?.index !== 3) throw new Error("found");
 * ```
 */
export function firstNonFiniteWeight(model: Uint8Array): NonFiniteWeight | null {
  for (const [field, wire, graph] of fields(model)) {
    if (field !== 7 || wire !== 2) continue;
    for (const [gf, gw, tensor] of fields(graph as Uint8Array)) {
      if (gf !== 5 || gw !== 2) continue;
      let name = "", type = 0;
      const chunks: Uint8Array[] = [];
      for (const [tf, tw, v] of fields(tensor as Uint8Array)) {
        if (tf === 8 && tw === 2) name = new TextDecoder().decode(v as Uint8Array);
        else if (tf === 2 && tw === 0) type = v as number;
        else if ((tf === 9 || tf === 4) && tw === 2) chunks.push(v as Uint8Array); // raw_data, packed float_data
        else if (tf === 4 && tw === 5) chunks.push(v as Uint8Array); // one unpacked float_data value
      }
      if (type !== FLOAT) continue;
      let index = 0;
      for (const c of chunks) {
        const view = new DataView(c.buffer, c.byteOffset, c.byteLength);
        for (let i = 0; i + 4 <= c.length; i += 4, index++) {
          const value = view.getFloat32(i, true);
          if (!Number.isFinite(value)) return { name, index, value };
        }
      }
    }
  }
  return null;
}
