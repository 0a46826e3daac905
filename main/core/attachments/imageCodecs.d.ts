/* Types for the pure-JavaScript image codecs that come with heic-convert (they ship none of their own). */
declare module 'heic-convert' {
  function convert(options: { buffer: Uint8Array; format: 'JPEG' | 'PNG'; quality?: number }): Promise<ArrayBuffer | Uint8Array>;
  export default convert;
}
declare module 'pngjs' {
  export const PNG: { sync: { read(buffer: Uint8Array): { width: number; height: number; data: Buffer } } };
}
