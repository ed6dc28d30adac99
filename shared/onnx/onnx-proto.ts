/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) that tessella writes or reads, with its field
 * numbers, so protobufjs can encode small models (the test models) and the graph pieces pixel-io.ts adds to a
 * model, without Python or the onnx package.
 */
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
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, FLOAT16: 10 } as const;

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
  data: Float32Array | BigInt64Array;
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
    dataType: t.data instanceof Float32Array ? DataType.FLOAT : DataType.INT64,
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
