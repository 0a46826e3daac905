/**
 * A text[] query parameter in PostgreSQL's binary array format (node-postgres sends a Buffer parameter as
 * binary). A group commit's envelopes go to PostgreSQL as one array of their ciphertexts, some 200 KB: as an
 * array literal node-postgres quoted and escaped every element (two regular-expression passes over each) and
 * built the literal by concatenation, and PostgreSQL parsed it back character by character (array_in). In
 * this format each element is its length and its UTF-8 bytes, written once into one buffer, and PostgreSQL
 * checks the bytes as it does any text it is sent (array_recv, text_recv: invalid UTF-8 is refused).
 */

/** PostgreSQL's type oid of `text`, the arrays' element type (array_recv refuses any other for a text[]). */
const TEXT_OID = 25;
/** Header: dimensions, has-nulls flag, element type, then the one dimension's length and lower bound. */
const HEADER_BYTES = 20;

export function binaryTextArray(values: readonly string[]): Buffer {
  let size = HEADER_BYTES;
  const lengths = values.map((value) => Buffer.byteLength(value, 'utf8'));
  for (const length of lengths) size += 4 + length;
  const buffer = Buffer.allocUnsafe(size);
  buffer.writeInt32BE(1, 0);
  buffer.writeInt32BE(0, 4);
  buffer.writeUInt32BE(TEXT_OID, 8);
  buffer.writeInt32BE(values.length, 12);
  buffer.writeInt32BE(1, 16);
  let at = HEADER_BYTES;
  values.forEach((value, i) => {
    buffer.writeInt32BE(lengths[i] as number, at);
    at += 4 + buffer.write(value, at + 4, 'utf8');
  });
  // The buffer is not zeroed: every byte must have been written, or old memory would be stored as text.
  if (at !== size) throw new Error(`binary text array: ${at} of ${size} bytes written`);
  return buffer;
}
