/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) that tessella writes or reads, with its field
 * numbers, so protobufjs can encode small models (the test models) and the graph pieces pixel-io.ts adds to a
 * model, without Python or the onnx package.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import protobuf from 'protobufjs';

const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'AttributeType', id: 20 },
          },
          nested: {
            AttributeType: { values: { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } },
            int64Data: { rule: 'repeated', type: 'int64', id: 7, options: { packed: true } },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
            },
          },
        },
        TypeProto: {
          fields: { tensorType: { type: 'Tensor', id: 1 } },
          nested: {
            Tensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            docString: { type: 'string', id: 6 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
export const ModelProto = root.lookupType('onnx.ModelProto');
export const NodeProto = root.lookupType('onnx.NodeProto');
export const TensorProto = root.lookupType('onnx.TensorProto');
export const ValueInfoProto = root.lookupType('onnx.ValueInfoProto');
export const OperatorSetIdProto = root.lookupType('onnx.OperatorSetIdProto');

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, UINT16: 4, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;

/** ONNX Runtime's names of TensorProto.DataType values, as its session metadata reports them. */
export const ORT_TYPE_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
};

export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | Float64Array | BigInt64Array;
}
export interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
}
/** A graph input/output: a tensor (float unless `elemType` says otherwise) whose dims are numbers (fixed) or strings (symbolic, e.g. 'N'). */
export interface ValueInfo {
  name: string;
  dims: (number | string)[];
  elemType?: number;
}
export interface GraphSpec {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Initializer[];
  nodes: Node[];
  doc?: string;
}

export function attribute(name: string, value: number | number[]) {
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if (Number.isInteger(value)) return { name, type: 2, i: value };
  return { name, type: 1, f: value };
}

export function valueInfo(v: ValueInfo) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType ?? DataType.FLOAT,
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function initializer(t: Initializer) {
  const raw = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return {
    name: t.name,
    dims: t.dims,
    dataType:
      t.data instanceof Float32Array
        ? DataType.FLOAT
        : t.data instanceof Float64Array
          ? DataType.DOUBLE
          : DataType.INT64,
    rawData: raw,
  };
}

/** Serialize a graph as an ONNX model (IR 8, default opset 17). */
export function encodeModel(g: GraphSpec, opset = 17): Buffer {
  const message = ModelProto.fromObject({
    irVersion: 8,
    producerName: 'tessella',
    producerVersion: '0.1.0',
    docString: g.doc ?? '',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: g.name,
      node: g.nodes.map((n, i) => ({
        name: `${n.opType.toLowerCase()}_${i}`,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: g.initializers.map(initializer),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  });
  return Buffer.from(ModelProto.encode(message).finish());
}

/**
 * Why the file at `path` is not a complete ONNX model, or undefined when its outer structure holds: every top-level
 * field of the ModelProto has a valid wire type and ends within the file, and there is a graph. Reads only the
 * fields' headers (a few bytes each), so a truncated or overwritten model.onnx is named before ONNX Runtime or
 * protobufjs meet it with "Protobuf parsing failed" or "index out of range".
 */
export function onnxModelProblem(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 'the file is empty';
    const head = Buffer.alloc(20);
    let pos = 0;
    let graph = false;
    /** A varint at `pos`, or undefined when the file ends inside it or it is longer than 2^53. */
    const varint = (): number | undefined => {
      const n = readSync(fd, head, 0, Math.min(10, size - pos), pos);
      let value = 0;
      for (let i = 0; i < n; i++) {
        value += (head[i] & 0x7f) * 2 ** (7 * i);
        if ((head[i] & 0x80) === 0) {
          pos += i + 1;
          return value;
        }
      }
      return undefined;
    };
    while (pos < size) {
      const at = pos;
      const tag = varint();
      if (tag === undefined) return `the file ends inside a field header at byte ${at}`;
      const wire = tag % 8;
      const field = Math.floor(tag / 8);
      if (field === 0) return `byte ${at} starts no protobuf field`;
      if (wire === 0) {
        if (varint() === undefined) return `the file ends inside field ${field} at byte ${at}`;
      } else if (wire === 1 || wire === 5) {
        pos += wire === 1 ? 8 : 4;
      } else if (wire === 2) {
        const length = varint();
        if (length === undefined) return `the file ends inside field ${field}'s length at byte ${at}`;
        pos += length;
      } else {
        return `byte ${at} has wire type ${wire}, which a ModelProto does not use`;
      }
      if (pos > size) {
        const what = field === 7 ? 'the graph' : `field ${field}`;
        return `${what} needs ${pos} bytes but the file ends at ${size}`;
      }
      if (field === 7) graph = true;
    }
    return graph ? undefined : 'it has no graph';
  } finally {
    closeSync(fd);
  }
}
