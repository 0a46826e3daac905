/** base64 of bytes, in slices (a 1 MiB chunk as one String.fromCharCode call would overflow the stack). */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Writes the bytes of `base64` into `target` at `offset`; answers how many it wrote. */
export function fromBase64Into(base64: string, target: Uint8Array, offset: number): number {
  const binary = atob(base64);
  if (offset + binary.length > target.length) throw new RangeError('more bytes than the file holds');
  for (let i = 0; i < binary.length; i++) target[offset + i] = binary.charCodeAt(i);
  return binary.length;
}
