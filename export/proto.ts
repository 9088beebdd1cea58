/**
 * A minimal ONNX writer: the messages of onnx.proto that a model needs, as
 * plain data built with helpers named after ONNX's own (make_tensor,
 * make_node, make_graph, make_model...), and their protobuf encoding.
 *
 * Encoding follows the field numbers of onnx.proto (proto2). Fields are
 * written in a fixed order and repeated scalars unpacked, as onnx's protobuf
 * serializer does, so the same model always gives the same bytes.
 *
 * @module
 */
import type { OnnxAttribute } from "../engine/types.ts";

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** A tensor with its data as little-endian raw bytes. */
export interface TensorProto {
  /** The name nodes refer to it by, e.g. `"C1.weight"`. */
  readonly name: string;
  /** Element type: a {@linkcode DataType} value. */
  readonly dataType: number;
  /** Size of each dimension; `[]` for a scalar. */
  readonly dims: readonly number[];
  /** The values, little-endian, in row-major order. */
  readonly rawData: Uint8Array;
}

/** One attribute of a node: `type` says which value field is set. */
export interface AttributeProto {
  /** The attribute's name, e.g. `"kernel_shape"`. */
  readonly name: string;
  /** An {@linkcode AttributeType} value: which of the value fields is set. */
  readonly type: number;
  /** The value of a FLOAT attribute. */
  readonly f?: number;
  /** The value of an INT attribute. */
  readonly i?: number;
  /** The value of a STRING attribute. */
  readonly s?: string;
  /** The values of a FLOATS attribute. */
  readonly floats?: readonly number[];
  /** The values of an INTS attribute. */
  readonly ints?: readonly number[];
}

/** One operator application. */
export interface NodeProto {
  /** The operator, e.g. `"Conv"`. */
  readonly opType: string;
  /** Names of the input tensors, in the operator's order. */
  readonly inputs: readonly string[];
  /** Names of the output tensors, in the operator's order. */
  readonly outputs: readonly string[];
  /** The node's name; `""` for none (then not written). */
  readonly name: string;
  /** "" is the default ONNX domain. */
  readonly domain: string;
  /** Its attributes, in the order they are written. */
  readonly attributes: readonly AttributeProto[];
}

/** A graph input or output: a tensor type and shape; a string dimension is symbolic (e.g. the batch). */
export interface ValueInfoProto {
  /** The tensor's name, e.g. `"image"` or `"scores"`. */
  readonly name: string;
  /** Element type: a {@linkcode DataType} value. */
  readonly elemType: number;
  /** Each dimension: a size, or a name for a symbolic one such as the batch. */
  readonly shape: readonly (number | string)[];
  /** What the tensor holds, written with it; absent or `""`: not written. */
  readonly docString?: string;
}

/** A graph: nodes in topological order, its inputs and outputs, and the initializers. */
export interface GraphProto {
  /** The graph's name, e.g. the model's. */
  readonly name: string;
  /** The nodes, each after those whose outputs it uses. */
  readonly nodes: readonly NodeProto[];
  /** Constant tensors: the weights, and the shapes and axes some ops take as inputs. */
  readonly initializers: readonly TensorProto[];
  /** The tensors the caller feeds, e.g. the batch of images. */
  readonly inputs: readonly ValueInfoProto[];
  /** The tensors the graph returns, e.g. scores, probabilities and class. */
  readonly outputs: readonly ValueInfoProto[];
  /** A description of the graph; absent or `""`: not written. */
  readonly docString?: string;
}

/** An operator set the model imports. */
export interface OperatorSetId {
  /** The operator domain; `""` is the default ONNX domain. */
  readonly domain: string;
  /** The opset version imported, e.g. 17. */
  readonly version: number;
}

/** A model: the graph and what it was written against. */
export interface ModelProto {
  /** Version of the ONNX file format (IR) the model follows. */
  readonly irVersion: number;
  /** The operator sets the graph's nodes come from. */
  readonly opsetImports: readonly OperatorSetId[];
  /** The program that wrote the model, e.g. `"lenet5-ts"`. */
  readonly producerName: string;
  /** That program's version; absent or `""`: not written. */
  readonly producerVersion?: string;
  /** A description of the model; absent or `""`: not written. */
  readonly docString?: string;
  /** The computation: nodes, weights, inputs and outputs. */
  readonly graph: GraphProto;
}

/** A tensor of float32 (`FLOAT`), uint8 or int64 values with the given dims. */
export function makeTensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  values: ArrayLike<number>,
): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new RangeError(
      `Cannot make tensor "${name}": ${values.length} values for dims [${dims.join(", ")}], expected ${count}`,
    );
  }
  let rawData: Uint8Array;
  if (dataType === DataType.FLOAT) {
    rawData = new Uint8Array(count * 4);
    const view = new DataView(rawData.buffer);
    for (let i = 0; i < count; i++) view.setFloat32(i * 4, values[i], true);
  } else if (dataType === DataType.INT64) {
    rawData = new Uint8Array(count * 8);
    const view = new DataView(rawData.buffer);
    for (let i = 0; i < count; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  } else if (dataType === DataType.UINT8) {
    rawData = Uint8Array.from(values);
  } else {
    throw new RangeError(`Cannot make tensor "${name}": data type ${dataType} is not supported`);
  }
  return { name, dataType, dims: [...dims], rawData };
}

/** An attribute from a value such as `{ ints: [2, 2] }` or `{ float: 0.5 }`. */
export function makeAttribute(name: string, value: OnnxAttribute): AttributeProto {
  if ("int" in value) return { name, type: AttributeType.INT, i: value.int };
  if ("ints" in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ("floats" in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  return { name, type: AttributeType.STRING, s: value.string };
}

/** A node of the default domain (or `domain`), attributes in the order given. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  options: { name?: string; attributes?: Readonly<Record<string, OnnxAttribute>>; domain?: string } = {},
): NodeProto {
  const attributes = Object.entries(options.attributes ?? {}).map(([k, v]) => makeAttribute(k, v));
  const { name = "", domain = "" } = options;
  return { opType, inputs: [...inputs], outputs: [...outputs], name, domain, attributes };
}

/** A tensor-typed graph input or output. */
export function makeValueInfo(
  name: string,
  elemType: number,
  shape: readonly (number | string)[],
  docString?: string,
): ValueInfoProto {
  return { name, elemType, shape: [...shape], docString };
}

/** A graph. */
export function makeGraph(
  nodes: readonly NodeProto[],
  name: string,
  inputs: readonly ValueInfoProto[],
  outputs: readonly ValueInfoProto[],
  initializers: readonly TensorProto[] = [],
  docString?: string,
): GraphProto {
  return { name, nodes, initializers, inputs, outputs, docString };
}

/** A model importing the default ONNX domain at `opset`. */
export function makeModel(
  graph: GraphProto,
  options: { opset: number; irVersion: number; producerName: string; producerVersion?: string; docString?: string },
): ModelProto {
  const { opset, irVersion, producerName, producerVersion, docString } = options;
  return { irVersion, opsetImports: [{ domain: "", version: opset }], producerName, producerVersion, docString, graph };
}

const encoder = new TextEncoder();

/** Protobuf wire format into a growing buffer. */
class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  #byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  /** An unsigned varint; negative int64 values take their 64-bit two's complement (10 bytes). */
  varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`Cannot encode ${value}: expected a safe integer`);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.#byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#byte(Number(v));
  }

  #tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): void {
    this.#tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.#tag(field, 5);
    this.#reserve(4);
    new DataView(this.#buf.buffer).setFloat32(this.#len, value, true);
    this.#len += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.#tag(field, 2);
    this.varint(data.length);
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
  }

  string(field: number, text: string): void {
    this.bytes(field, encoder.encode(text));
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

function writeTensor(w: Writer, t: TensorProto): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.rawData);
}

function writeAttribute(w: Writer, a: AttributeProto): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.int(3, a.i);
  if (a.s !== undefined) w.string(4, a.s);
  for (const f of a.floats ?? []) w.float(7, f);
  for (const i of a.ints ?? []) w.int(8, i);
  w.int(20, a.type);
}

function writeNode(w: Writer, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, (m) => writeAttribute(m, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: Writer, v: ValueInfoProto): void {
  w.string(1, v.name);
  // TypeProto { tensor_type = 1: Tensor { elem_type = 1, shape = 2: TensorShapeProto { dim = 1 } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => typeof d === "number" ? dim.int(1, d) : dim.string(2, d));
        }
      });
    }));
  if (v.docString) w.string(3, v.docString);
}

function writeGraph(w: Writer, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  if (g.docString) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

/** The protobuf bytes of a model: the content of a .onnx file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.docString) w.string(6, model.docString);
  w.message(7, (m) => writeGraph(m, model.graph));
  for (const o of model.opsetImports) {
    w.message(8, (m) => {
      if (o.domain) m.string(1, o.domain);
      m.int(2, o.version);
    });
  }
  return w.finish();
}
