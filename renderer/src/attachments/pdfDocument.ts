/*
 * pdf.js inside the renderer, under the app's Content-Security-Policy: the worker is a script of the app's own
 * bundle (script-src 'self'; Vite bundles it), and the library is told never to use eval (`isEvalSupported`),
 * WebAssembly, fetch, fonts or colour maps from anywhere: everything it reads is the document's own bytes.
 * XFA forms and scripting are off. Loaded on first use, so the main bundle does not carry it.
 * A PDF is the sender's, and can be built to exhaust memory: images over MAX_IMAGE_PIXELS are not drawn, images are
 * scaled down in the worker past MAX_CANVAS_BYTES of canvas, and a document of more than MAX_PDF_PAGES pages is
 * refused with a message that says so (real reports have tens of pages).
 */
import type { PDFDocumentProxy, PDFPageProxy, RenderTask } from 'pdfjs-dist';

export type { PDFDocumentProxy, PDFPageProxy, RenderTask };

/** Images inside a PDF larger than this (pixels: 40 megapixels, a large scan at 600 dpi) are left out. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** The largest canvas pdf.js makes for one image, in bytes (RGBA): the viewer's own canvas limit (canvasSize.ts). */
export const MAX_CANVAS_BYTES = 24_000_000 * 4;
/** Documents with more pages than this are not opened. */
export const MAX_PDF_PAGES = 2000;

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
  constructor(readonly reason: 'damaged' | 'password' | 'tooManyPages', cause?: unknown, readonly pages?: number) {
    super(reason === 'password' ? 'the PDF is protected with a password' : reason === 'tooManyPages' ? `the PDF has ${pages ?? 'too many'} pages` : 'the PDF could not be read', { cause });
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
    maxImageSize: MAX_IMAGE_PIXELS,
    canvasMaxAreaInBytes: MAX_CANVAS_BYTES,
    useSystemFonts: false,
    useWorkerFetch: false,
    enableXfa: false,
    stopAtErrors: false,
    verbosity: pdfjs.VerbosityLevel.ERRORS,
  });
  let pdf: PDFDocumentProxy;
  try {
    pdf = await task.promise;
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    throw new PdfUnreadableError(name === 'PasswordException' ? 'password' : 'damaged', error);
  }
  if (pdf.numPages > MAX_PDF_PAGES) {
    const pages = pdf.numPages;
    await pdf.destroy();
    throw new PdfUnreadableError('tooManyPages', undefined, pages);
  }
  return pdf;
}

/** Whether an error is pdf.js saying a render was cancelled (a newer one replaced it): not a failure. */
export function isRenderCancelled(error: unknown): boolean {
  return error instanceof Error && error.name === 'RenderingCancelledException';
}
