/**
 * The few Web-platform globals shared/ uses. They exist in every runtime shared/ runs in (Node, the
 * renderer, Electron) but are in neither the ES library nor a runtime-specific one, so they are declared here.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
declare function atob(data: string): string;
declare function btoa(data: string): string;
