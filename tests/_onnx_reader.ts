/**
 * A small ONNX reader for the tests, written from onnx.proto independently
 * of the writer: protobuf bytes back into the messages of export/proto.ts.
 * It refuses any field the writer is not meant to write, and accepts packed
 * and unpacked repeated scalars, as protobuf parsers must.
 */
import type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetId,
  TensorProto,
  ValueInfoProto,
} from "../export/proto.ts";

/** One field as read: a varint (bigint), 32-bit bytes (wire 5) or a length-delimited payload. */
interface Field {
  readonly num: number;
  readonly wire: number;
  readonly varint?: bigint;
  readonly bytes?: Uint8Array;
}

function readVarint(b: Uint8Array, pos: { at: number }): bigint {
  let v = 0n, shift = 0n;
  for (;;) {
    if (pos.at >= b.length) throw new Error("truncated varint");
    const byte = b[pos.at++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
    shift += 7n;
  }
}

/** Splits a message into its fields, in order. */
export function readFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const pos = { at: 0 };
  while (pos.at < b.length) {
    const key = Number(readVarint(b, pos));
    const num = key >>> 3, wire = key & 7;
    if (wire === 0) out.push({ num, wire, varint: readVarint(b, pos) });
    else if (wire === 2) {
      const len = Number(readVarint(b, pos));
      if (pos.at + len > b.length) throw new Error(`field ${num}: truncated payload`);
      out.push({ num, wire, bytes: b.subarray(pos.at, pos.at + len) });
      pos.at += len;
    } else if (wire === 5) {
      out.push({ num, wire, bytes: b.subarray(pos.at, pos.at + 4) });
      pos.at += 4;
    } else throw new Error(`field ${num}: unexpected wire type ${wire}`);
  }
  return out;
}

const text = (f: Field) => new TextDecoder("utf-8", { fatal: true }).decode(f.bytes!);
const int64 = (v: bigint) => Number(BigInt.asIntN(64, v));
const float = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);

/** Repeated int64: unpacked varints or one packed payload. */
function ints(f: Field): number[] {
  if (f.wire === 0) return [int64(f.varint!)];
  const pos = { at: 0 }, out: number[] = [];
  while (pos.at < f.bytes!.length) out.push(int64(readVarint(f.bytes!, pos)));
  return out;
}

/** Repeated float: unpacked 32-bit values or one packed payload. */
function floats(f: Field): number[] {
  const out: number[] = [];
  for (let i = 0; i < f.bytes!.length; i += 4) out.push(float(f.bytes!.subarray(i, i + 4)));
  return out;
}

function unknown(message: string, f: Field): never {
  throw new Error(`${message}: unexpected field ${f.num} (wire type ${f.wire})`);
}

function readTensor(b: Uint8Array): TensorProto {
  const dims: number[] = [];
  let name = "", dataType = 0, rawData = new Uint8Array(0);
  for (const f of readFields(b)) {
    if (f.num === 1) dims.push(...ints(f));
    else if (f.num === 2) dataType = int64(f.varint!);
    else if (f.num === 8) name = text(f);
    else if (f.num === 9) rawData = f.bytes!.slice();
    else unknown("TensorProto", f);
  }
  return { name, dataType, dims, rawData };
}

function readAttribute(b: Uint8Array): AttributeProto {
  const a: Record<string, unknown> = {};
  for (const f of readFields(b)) {
    if (f.num === 1) a.name = text(f);
    else if (f.num === 20) a.type = int64(f.varint!);
    else if (f.num === 2) a.f = float(f.bytes!);
    else if (f.num === 3) a.i = int64(f.varint!);
    else if (f.num === 4) a.s = text(f);
    else if (f.num === 7) a.floats = [...(a.floats as number[] ?? []), ...floats(f)];
    else if (f.num === 8) a.ints = [...(a.ints as number[] ?? []), ...ints(f)];
    else unknown("AttributeProto", f);
  }
  return a as unknown as AttributeProto;
}

function readNode(b: Uint8Array): NodeProto {
  const inputs: string[] = [], outputs: string[] = [], attributes: AttributeProto[] = [];
  let name = "", opType = "", domain = "";
  for (const f of readFields(b)) {
    if (f.num === 1) inputs.push(text(f));
    else if (f.num === 2) outputs.push(text(f));
    else if (f.num === 3) name = text(f);
    else if (f.num === 4) opType = text(f);
    else if (f.num === 5) attributes.push(readAttribute(f.bytes!));
    else if (f.num === 7) domain = text(f);
    else unknown("NodeProto", f);
  }
  return { opType, inputs, outputs, name, domain, attributes };
}

function only(b: Uint8Array, num: number, what: string): Uint8Array {
  const fs = readFields(b);
  if (fs.length !== 1 || fs[0].num !== num || fs[0].wire !== 2) throw new Error(`${what}: expected field ${num} alone`);
  return fs[0].bytes!;
}

function readValueInfo(b: Uint8Array): ValueInfoProto {
  let name = "", elemType = 0, docString: string | undefined;
  const shape: (number | string)[] = [];
  for (const f of readFields(b)) {
    if (f.num === 1) name = text(f);
    else if (f.num === 3) docString = text(f);
    else if (f.num === 2) {
      // TypeProto.tensor_type (1) -> Tensor { elem_type 1, shape 2 -> TensorShapeProto { dim 1 } }
      for (const t of readFields(only(f.bytes!, 1, "TypeProto"))) {
        if (t.num === 1) elemType = int64(t.varint!);
        else if (t.num === 2) {
          for (const d of readFields(t.bytes!)) {
            if (d.num !== 1) unknown("TensorShapeProto", d);
            const [v] = readFields(d.bytes!);
            if (v.num === 1) shape.push(int64(v.varint!));
            else if (v.num === 2) shape.push(text(v));
            else unknown("Dimension", v);
          }
        } else unknown("TypeProto.Tensor", t);
      }
    } else unknown("ValueInfoProto", f);
  }
  return { name, elemType, shape, docString };
}

function readGraph(b: Uint8Array): GraphProto {
  const nodes: NodeProto[] = [], initializers: TensorProto[] = [];
  const inputs: ValueInfoProto[] = [], outputs: ValueInfoProto[] = [];
  let name = "", docString: string | undefined;
  for (const f of readFields(b)) {
    if (f.num === 1) nodes.push(readNode(f.bytes!));
    else if (f.num === 2) name = text(f);
    else if (f.num === 5) initializers.push(readTensor(f.bytes!));
    else if (f.num === 10) docString = text(f);
    else if (f.num === 11) inputs.push(readValueInfo(f.bytes!));
    else if (f.num === 12) outputs.push(readValueInfo(f.bytes!));
    else unknown("GraphProto", f);
  }
  return { name, nodes, initializers, inputs, outputs, docString };
}

/** Decodes the bytes of a .onnx file written by export/. */
export function readModel(b: Uint8Array): ModelProto {
  const opsetImports: OperatorSetId[] = [];
  let irVersion = 0, producerName = "", producerVersion: string | undefined, docString: string | undefined;
  let graph: GraphProto | undefined;
  for (const f of readFields(b)) {
    if (f.num === 1) irVersion = int64(f.varint!);
    else if (f.num === 2) producerName = text(f);
    else if (f.num === 3) producerVersion = text(f);
    else if (f.num === 6) docString = text(f);
    else if (f.num === 7) graph = readGraph(f.bytes!);
    else if (f.num === 8) {
      let domain = "", version = 0;
      for (const o of readFields(f.bytes!)) {
        if (o.num === 1) domain = text(o);
        else if (o.num === 2) version = int64(o.varint!);
        else unknown("OperatorSetIdProto", o);
      }
      opsetImports.push({ domain, version });
    } else unknown("ModelProto", f);
  }
  if (!graph) throw new Error("ModelProto: no graph");
  return { irVersion, opsetImports, producerName, producerVersion, docString, graph };
}

/** The float32 values of an initializer. */
export function tensorFloats(t: TensorProto): Float32Array {
  const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  return Float32Array.from({ length: t.rawData.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** The int64 values of an initializer, as numbers. */
export function tensorInts(t: TensorProto): number[] {
  const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  return Array.from({ length: t.rawData.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
}
