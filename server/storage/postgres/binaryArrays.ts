/**
 * Array query parameters in PostgreSQL's binary array format (node-postgres sends a Buffer parameter as binary).
 * A group commit's envelopes go to PostgreSQL as one array of their ciphertexts, some 200 KB: as an array literal
 * node-postgres quoted and escaped every element (two regular-expression passes over each) and built the literal
 * by concatenation, and PostgreSQL parsed it back character by character (array_in). Numbers went the same way:
 * each turned into a string, escaped, quoted and concatenated, about a fifth of what a message on PostgreSQL
 * allocated in a saturated run (an allocation profile, 2026-12-05), and parsed back. In this format each element
 * is its length and its bytes, written once into one buffer; PostgreSQL checks text's bytes as it does any text
 * it is sent (array_recv, text_recv: invalid UTF-8 is refused).
 */

/** PostgreSQL's type oids of the element types (array_recv refuses an array whose element type is not the cast's). */
const OID = { bool: 16, int8: 20, int4: 23, text: 25, float8: 701 } as const;
/** Header: dimensions, has-nulls flag, element type, then the one dimension's length and lower bound. */
const HEADER_BYTES = 20;
const TWO_TO_32 = 2 ** 32;

/** The header and the buffer for `count` elements of `bytes` bytes of data in all. */
function arrayBuffer(oid: number, count: number, bytes: number, hasNulls: boolean): Buffer {
  const buffer = Buffer.allocUnsafe(HEADER_BYTES + 4 * count + bytes);
  buffer.writeInt32BE(1, 0);
  buffer.writeInt32BE(hasNulls ? 1 : 0, 4);
  buffer.writeUInt32BE(oid, 8);
  buffer.writeInt32BE(count, 12);
  buffer.writeInt32BE(1, 16);
  return buffer;
}

/** The buffer is not zeroed: every byte must have been written, or old memory would be stored. */
function written(buffer: Buffer, at: number, kind: string): Buffer {
  if (at !== buffer.length) throw new Error(`binary ${kind} array: ${at} of ${buffer.length} bytes written`);
  return buffer;
}

export function binaryTextArray(values: readonly string[]): Buffer {
  let bytes = 0;
  const lengths = values.map((value) => Buffer.byteLength(value, 'utf8'));
  for (const length of lengths) bytes += length;
  const buffer = arrayBuffer(OID.text, values.length, bytes, false);
  let at = HEADER_BYTES;
  values.forEach((value, i) => {
    buffer.writeInt32BE(lengths[i] as number, at);
    at += 4 + buffer.write(value, at + 4, 'utf8');
  });
  return written(buffer, at, 'text');
}

/**
 * Fixed-size elements (`size` bytes each, `write` puts one at `at`); null and undefined are SQL NULL. A value
 * `write` cannot take (a fraction for an integer column, one out of its range) is refused here with its index,
 * as array_in refused its text.
 */
function fixedArray<T>(oid: number, size: number, kind: string, values: readonly (T | null | undefined)[], write: (buffer: Buffer, value: T, at: number) => void): Buffer {
  let present = 0;
  for (const value of values) if (value !== null && value !== undefined) present++;
  const buffer = arrayBuffer(oid, values.length, present * size, present < values.length);
  let at = HEADER_BYTES;
  values.forEach((value, i) => {
    if (value === null || value === undefined) {
      buffer.writeInt32BE(-1, at);
      at += 4;
      return;
    }
    buffer.writeInt32BE(size, at);
    try {
      write(buffer, value, at + 4);
    } catch (error) {
      throw new Error(`binary ${kind} array: element ${i} (${String(value)}): ${error instanceof Error ? error.message : 'not writable'}`, { cause: error });
    }
    at += 4 + size;
  });
  return written(buffer, at, kind);
}

/** An int[] (int4) parameter. */
export function binaryIntArray(values: readonly (number | null | undefined)[]): Buffer {
  // writeInt32BE checks the range; a fraction it would truncate.
  return fixedArray(OID.int4, 4, 'integer', values, (buffer, value, at) => {
    if (!Number.isInteger(value)) throw new RangeError('not an integer');
    if (value < -(2 ** 31) || value >= 2 ** 31) throw new RangeError('out of the int range');
    buffer.writeInt32BE(value, at);
  });
}

/** A bigint[] (int8) parameter, of safe integers (times in milliseconds, sequence numbers). */
export function binaryBigintArray(values: readonly (number | null | undefined)[]): Buffer {
  return fixedArray(OID.int8, 8, 'bigint', values, (buffer, value, at) => {
    if (!Number.isSafeInteger(value)) throw new RangeError('not a safe integer (JavaScript numbers hold bigint exactly only up to 2^53)');
    // Two's complement in two halves: the high word floors, so the low word is always 0..2^32-1.
    const high = Math.floor(value / TWO_TO_32);
    buffer.writeInt32BE(high, at);
    buffer.writeUInt32BE(value - high * TWO_TO_32, at + 4);
  });
}

/** A boolean[] parameter. */
export function binaryBooleanArray(values: readonly (boolean | null | undefined)[]): Buffer {
  return fixedArray(OID.bool, 1, 'boolean', values, (buffer, value, at) => {
    if (typeof value !== 'boolean') throw new TypeError('not a boolean');
    buffer.writeUInt8(value ? 1 : 0, at);
  });
}

/** A float8[] parameter (exact: no decimal text in between; infinities as PostgreSQL's). */
export function binaryFloat8Array(values: readonly (number | null | undefined)[]): Buffer {
  return fixedArray(OID.float8, 8, 'float8', values, (buffer, value, at) => {
    if (typeof value !== 'number') throw new TypeError('not a number');
    buffer.writeDoubleBE(value, at);
  });
}
