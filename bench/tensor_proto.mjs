// A minimal reader and writer of serialized ONNX TensorProto messages (onnx.proto3 field numbers), enough for
// ONNX's test-data layout (input_K.pb / output_K.pb): the reader handles raw_data and the typed fields (float_data,
// int32_data, int64_data, double_data, uint64_data), packed or unpacked; the writer emits name, dims, data_type and
// raw_data (little-endian). Tensors come back as {name, type, dims, data} with onnxruntime-node's type names.
// onnxruntime-node has no TensorProto API, hence this file.

import fs from 'node:fs';

// ---- ONNX TensorProto.DataType <-> onnxruntime-node tensor types --------------------------------------------------
const ONNX_TO_ORT = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};
const ORT_TO_ONNX = Object.fromEntries(Object.entries(ONNX_TO_ORT).map(([k, v]) => [v, Number(k)]));
export const TYPED_ARRAY = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array, float64: Float64Array,
  uint32: Uint32Array, uint64: BigUint64Array,
};

export class ProtoError extends Error {}

// ---- protobuf wire format --------------------------------------------------------------------------------------
class Reader {
  constructor(bytes, file) {
    this.buf = bytes;
    this.pos = 0;
    this.file = file;
  }
  done() { return this.pos >= this.buf.length; }
  fail(what) { throw new ProtoError(`${this.file}: malformed TensorProto (${what} at byte ${this.pos})`); }
  varint() {  // as BigInt: int64 values need all 64 bits
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    this.fail('varint longer than 10 bytes');
  }
  smallVarint() {
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('length or tag out of range');
    return Number(v);
  }
  bytes(n) {
    if (n > this.buf.length - this.pos) this.fail('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  lengthDelimited() { return this.bytes(this.smallVarint()); }
  skip(wireType) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.bytes(8);
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 5) this.bytes(4);
    else this.fail(`unsupported wire type ${wireType}`);
  }
}

// Reads a repeated scalar field, packed (wire type 2) or one element (its own wire type), into out[].
function readRepeated(r, wireType, kind, out) {
  const one = (rr) => {
    if (kind === 'varint') return rr.varint();
    if (kind === 'fixed32') {
      const b = rr.bytes(4);
      return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
    }
    const b = rr.bytes(8);  // fixed64 (double)
    return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
  };
  if (wireType === 2) {
    const sub = new Reader(r.lengthDelimited(), r.file);
    while (!sub.done()) out.push(one(sub));
  } else {
    out.push(one(r));
  }
}

/** Parses a serialized TensorProto into {name, type, dims, data (typed array)}. */
export function parseTensorProto(bytes, file = 'tensor') {
  const r = new Reader(bytes, file);
  const dims = [];
  let dataType = 0;
  let name = '';
  let raw = null;
  const floatData = [], int32Data = [], int64Data = [], doubleData = [], uint64Data = [];
  let external = false;
  while (!r.done()) {
    const tag = r.smallVarint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    switch (field) {
      case 1: readRepeated(r, wire, 'varint', dims); break;
      case 2: dataType = Number(r.varint()); break;
      case 4: readRepeated(r, wire, 'fixed32', floatData); break;
      case 5: readRepeated(r, wire, 'varint', int32Data); break;
      case 7: readRepeated(r, wire, 'varint', int64Data); break;
      case 8: name = new TextDecoder().decode(r.lengthDelimited()); break;
      case 9: raw = r.lengthDelimited(); break;
      case 10: readRepeated(r, wire, 'fixed64', doubleData); break;
      case 11: readRepeated(r, wire, 'varint', uint64Data); break;
      case 14: external = Number(r.varint()) === 1; break;
      default: r.skip(wire);
    }
  }
  if (external) throw new ProtoError(`${file}: tensor '${name}' uses external data, which is not supported`);
  const type = ONNX_TO_ORT[dataType];
  if (!type) throw new ProtoError(`${file}: tensor '${name}' has unsupported data_type ${dataType}`);
  const shape = dims.map((d) => Number(BigInt.asIntN(64, d)));
  if (shape.some((d) => d < 0)) throw new ProtoError(`${file}: tensor '${name}' has a negative dimension`);
  const count = shape.reduce((a, b) => a * b, 1);
  const Ctor = TYPED_ARRAY[type];
  let data;
  if (raw !== null) {
    if (raw.length !== count * Ctor.BYTES_PER_ELEMENT)
      throw new ProtoError(`${file}: tensor '${name}': raw_data has ${raw.length} bytes, shape needs ` +
                           `${count * Ctor.BYTES_PER_ELEMENT}`);
    data = new Ctor(count);  // a fresh aligned copy (raw_data can sit at any byte offset)
    new Uint8Array(data.buffer).set(raw);
  } else {
    // Typed fields: float_data (float), int64_data (int64), double_data (double), uint64_data (uint32, uint64),
    // int32_data (everything else, float16 as its bit pattern).
    let src;
    if (type === 'float32') src = floatData;
    else if (type === 'int64') src = int64Data.map((v) => BigInt.asIntN(64, v));
    else if (type === 'float64') src = doubleData;
    else if (type === 'uint64') src = uint64Data;
    else if (type === 'uint32') src = uint64Data.map(Number);
    else src = int32Data.map((v) => Number(BigInt.asIntN(32, v)));
    if (src.length !== count)
      throw new ProtoError(`${file}: tensor '${name}' holds ${src.length} values, shape needs ${count}`);
    data = Ctor.from(src);
  }
  return { name, type, dims: shape, data };
}

function encodeVarint(value, out) {
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
}

/** A TensorProto with raw_data (little-endian, as ONNX requires) as two chunks: the fields before the data, and
 * a view of the data itself (no copy of the tensor). */
export function tensorProtoChunks(name, type, dims, data) {
  const onnxType = ORT_TO_ONNX[type];
  if (!onnxType) throw new ProtoError(`output '${name}' has type ${type}, which cannot be written`);
  const head = [];
  const packedDims = [];
  for (const d of dims) encodeVarint(d, packedDims);
  if (dims.length > 0) {
    head.push(0x0a);  // field 1, length-delimited (packed dims)
    encodeVarint(packedDims.length, head);
    head.push(...packedDims);
  }
  head.push(0x10);  // field 2, varint
  encodeVarint(onnxType, head);
  const nameBytes = new TextEncoder().encode(name);
  head.push(0x42);  // field 8, length-delimited
  encodeVarint(nameBytes.length, head);
  head.push(...nameBytes);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  head.push(0x4a);  // field 9, length-delimited
  encodeVarint(raw.length, head);
  return [Uint8Array.from(head), raw];
}

/** Serializes {name, type, dims, data} as one TensorProto buffer. */
export function serializeTensorProto(name, type, dims, data) {
  return Buffer.concat(tensorProtoChunks(name, type, dims, data));
}

/** Writes a TensorProto file without building the message in memory (keeps a benchmark's peak RSS honest). */
export function writeTensorProto(file, name, type, dims, data) {
  const fd = fs.openSync(file, 'w');
  try {
    for (const chunk of tensorProtoChunks(name, type, dims, data)) {
      for (let done = 0; done < chunk.length;) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
  } finally {
    fs.closeSync(fd);
  }
}
