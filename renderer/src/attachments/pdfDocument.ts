/*
 * pdf.js inside the renderer, under the app's Content-Security-Policy: the worker is a script of the app's own
 * bundle (script-src 'self'; Vite bundles it), and the library is told never to use eval (`isEvalSupported`),
 * WebAssembly, fetch, fonts or colour maps from anywhere: everything it reads is the document's own bytes.
 * XFA forms and scripting are off. Loaded on first use, so the main bundle does not carry it.
 */
import type { PDFDocumentProxy, PDFPageProxy, RenderTask } from 'pdfjs-dist';

export type { PDFDocumentProxy, PDFPageProxy, RenderTask };

let library: Promise<typeof import('pdfjs-dist')> | null = null;

async function loadLibrary(): Promise<typeof import('pdfjs-dist')> {
  const [pdfjs, { default: PdfWorker }] = await Promise.all([import('pdfjs-dist'), import('pdfjs-dist/build/pdf.worker.min.mjs?worker')]);
  // One worker for every document this window opens; it is a script of our own origin, never a blob: URL.
  pdfjs.GlobalWorkerOptions.workerPort ??= new PdfWorker();
  return pdfjs;
}

/** Thrown when the bytes are not a PDF pdf.js can read (damaged, or protected with a password). */
export class PdfUnreadableError extends Error {
  readonly code = 'PDF_UNREADABLE';
  constructor(readonly reason: 'damaged' | 'password', cause?: unknown) {
    super(reason === 'password' ? 'the PDF is protected with a password' : 'the PDF could not be read', { cause });
  }
}

/**
 * Opens a PDF from its bytes (a copy is handed to the worker: the caller's array stays usable). The caller
 * destroys the document when it is done with it.
 */
export async function openPdf(bytes: Uint8Array): Promise<PDFDocumentProxy> {
  library ??= loadLibrary();
  const pdfjs = await library;
  const task = pdfjs.getDocument({
    data: bytes.slice(),
    isEvalSupported: false,
    useWasm: false,
    useWorkerFetch: false,
    enableXfa: false,
    stopAtErrors: false,
    verbosity: pdfjs.VerbosityLevel.ERRORS,
  });
  try {
    return await task.promise;
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    throw new PdfUnreadableError(name === 'PasswordException' ? 'password' : 'damaged', error);
  }
}

/** Whether an error is pdf.js saying a render was cancelled (a newer one replaced it): not a failure. */
export function isRenderCancelled(error: unknown): boolean {
  return error instanceof Error && error.name === 'RenderingCancelledException';
}
