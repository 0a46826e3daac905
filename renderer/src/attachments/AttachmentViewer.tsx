import './attachments.css';
import { useCallback, useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { formatBytes } from '../format';
import { useModalFocus } from '../components/useModalFocus';
import { typeLabel, viewerKind } from './attachmentKinds';
import { FileName } from './FileName';
import { Icon, type IconName } from './Icon';
import { ImageCanvas } from './ImageCanvas';
import { MAX_PDF_PAGES, openPdf, PdfUnreadableError, type PDFDocumentProxy } from './pdfDocument';
import { PdfPageCanvas } from './PdfPageCanvas';
import { TransferProgress, type Transfer } from './TransferProgress';
import { useBoxSize } from './useBoxSize';
import { applyViewAction, initialView, keyToViewAction, type ViewAction, type ViewState } from './viewState';

/** What the viewer has of the file so far: still coming (from the relay or the profile), all of it, or a failure. */
export type ViewerContent =
  | { readonly state: 'loading'; readonly transfer: Transfer | null }
  | { readonly state: 'ready'; readonly bytes: Uint8Array }
  | { readonly state: 'failed'; readonly message: string };

export interface ViewerFile {
  readonly name: string;
  /** The type the bytes are in (HEIC/HEIF arrive converted: JPEG). */
  readonly contentType: string;
  readonly size: number;
}

type Decoded =
  | { kind: 'none' }
  | { kind: 'image'; image: ImageBitmap }
  | { kind: 'pdf'; pdf: PDFDocumentProxy }
  | { kind: 'unreadable'; message: string };

/** Decodes the bytes for the viewer (image or PDF), in memory only; the result is released when the viewer closes. */
function useDecoded(file: ViewerFile, content: ViewerContent): Decoded | null {
  const [decoded, setDecoded] = useState<Decoded | null>(null);
  const bytes = content.state === 'ready' ? content.bytes : null;
  useEffect(() => {
    if (!bytes) return;
    let live = true;
    let release = () => {};
    const kind = viewerKind(file.contentType);
    const work: Promise<Decoded> = kind === 'pdf'
      ? openPdf(bytes).then((pdf) => {
        release = () => void pdf.destroy();
        return { kind: 'pdf', pdf } as const;
      })
      : kind === 'image'
        ? createImageBitmap(new Blob([bytes.slice().buffer], { type: file.contentType })).then((image) => {
          release = () => image.close();
          return { kind: 'image', image } as const;
        })
        : Promise.resolve({ kind: 'none' } as const);
    work.then((d) => (live ? setDecoded(d) : release()), (error: unknown) => live && setDecoded({ kind: 'unreadable', message: unreadableMessage(error, kind) }));
    return () => {
      live = false;
      release();
    };
  }, [bytes, file.contentType]);
  return decoded;
}

function unreadableMessage(error: unknown, kind: string): string {
  if (error instanceof PdfUnreadableError && error.reason === 'password') return 'This PDF is protected with a password; Rounds cannot open it.';
  if (error instanceof PdfUnreadableError && error.reason === 'tooManyPages') {
    return `This PDF has ${(error.pages ?? 0).toLocaleString('en-GB')} pages; Rounds opens PDFs of up to ${MAX_PDF_PAGES.toLocaleString('en-GB')} pages. Ask the sender for the part you need.`;
  }
  return kind === 'pdf' ? 'This PDF is damaged and cannot be shown.' : 'This image is damaged or in a format Rounds cannot show.';
}

const TOOL: Record<ViewAction, { label: string; icon: IconName; keys: string }> = {
  previousPage: { label: 'Previous page', icon: 'previous', keys: 'PageUp' },
  nextPage: { label: 'Next page', icon: 'next', keys: 'PageDown' },
  zoomOut: { label: 'Zoom out', icon: 'zoomOut', keys: '-' },
  zoomIn: { label: 'Zoom in', icon: 'zoomIn', keys: '+' },
  fit: { label: 'Fit to window', icon: 'fit', keys: '0' },
  rotateLeft: { label: 'Rotate left', icon: 'rotateLeft', keys: 'Shift+R' },
  rotateRight: { label: 'Rotate right', icon: 'rotateRight', keys: 'R' },
  firstPage: { label: 'First page', icon: 'previous', keys: 'Home' },
  lastPage: { label: 'Last page', icon: 'next', keys: 'End' },
};

/**
 * The in-app viewer: a photo or a PDF, full window, on a dark backdrop, with zoom, rotation and (PDF) paging
 * from the toolbar or the keyboard. Nothing leaves memory: there is no download, no file and no URL of the
 * content; the PDF is drawn by pdf.js from the bytes (see pdfDocument.ts for what it is not allowed to do).
 */
export function AttachmentViewer({ file, content, onClose, onRetry, extraTools }: {
  file: ViewerFile; content: ViewerContent; onClose: () => void; onRetry?: () => void;
  /** More buttons for the toolbar (Save a copy, Copy image), as the organisation's policy allows. */
  extraTools?: ReactNode;
}) {
  const titleId = useId();
  const box = useRef<HTMLDivElement>(null);
  const stage = useRef<HTMLDivElement>(null);
  const onKeyDownTrap = useModalFocus(box, onClose, stage);
  const size = useBoxSize(stage);
  const decoded = useDecoded(file, content);
  const [view, setView] = useState<ViewState>(initialView());
  const [renderError, setRenderError] = useState<string | null>(null);
  const pages = decoded?.kind === 'pdf' ? decoded.pdf.numPages : 1;
  const canPage = decoded?.kind === 'pdf' && pages > 1;
  const showing = decoded?.kind === 'pdf' || decoded?.kind === 'image';

  useEffect(() => {
    setView(initialView(pages));
  }, [pages]);
  // A new page starts at its top. (Braces: Chromium's scrollTo now answers a promise, which is no effect cleanup.)
  useEffect(() => {
    void stage.current?.scrollTo({ top: 0 });
  }, [view.page]);
  const onRenderError = useCallback(() => setRenderError('This page could not be drawn.'), []);
  /** The size on screen as a share of the image's pixels or the page's printed size: what the readout says. */
  const [shownScale, setShownScale] = useState<number | null>(null);

  const act = (action: ViewAction) => setView((v) => applyViewAction(v, action));
  const onKeyDown = (e: KeyboardEvent) => {
    onKeyDownTrap(e);
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || !showing) return;
    const action = keyToViewAction(e.key, e.shiftKey, view.zoom > 1);
    if (!action || (!canPage && /Page$/.test(action))) return;
    e.preventDefault();
    act(action);
  };

  const tool = (action: ViewAction, disabled = false) => (
    <button type="button" className="viewer-tool" onClick={() => act(action)} disabled={disabled || !showing} aria-label={TOOL[action].label} title={`${TOOL[action].label} (${TOOL[action].keys})`} aria-keyshortcuts={TOOL[action].keys}>
      <Icon name={TOOL[action].icon} />
    </button>
  );

  const pageLabel = `Page ${view.page} of ${pages}`;
  const what = decoded?.kind === 'pdf' ? `${file.name}, ${pageLabel.toLowerCase()}` : file.name;
  const turned = view.rotation ? `, turned ${view.rotation}°` : '';
  // Drawn outside the app root (a portal), which stays inert behind it while it is open (useModalFocus).
  return createPortal(
    <div className="viewer-overlay" role="dialog" aria-modal="true" aria-labelledby={titleId} ref={box} onKeyDown={onKeyDown}>
      <header className="viewer-bar">
        <div className="viewer-title">
          <h2 id={titleId}><FileName name={file.name} /></h2>
          <span>{typeLabel(file.contentType)} · {formatBytes(file.size)}</span>
        </div>
        <div className="viewer-tools" role="toolbar" aria-label="Viewer controls">
          {canPage && (
            <div className="viewer-group">
              {tool('previousPage', view.page <= 1)}
              <span className="viewer-readout" aria-hidden="true">Page {view.page} of {pages}</span>
              {tool('nextPage', view.page >= pages)}
            </div>
          )}
          <div className="viewer-group">
            {tool('zoomOut', view.zoom <= 0.5)}
            <span className="viewer-readout" aria-hidden="true">{shownScale === null ? '' : `${Math.round(shownScale * 100)}%`}</span>
            {tool('zoomIn', view.zoom >= 8)}
            {tool('fit', view.zoom === 1)}
          </div>
          <div className="viewer-group">
            {tool('rotateLeft')}
            {tool('rotateRight')}
          </div>
          {extraTools && <div className="viewer-group">{extraTools}</div>}
          <button type="button" className="viewer-tool close-viewer" onClick={onClose} aria-label="Close viewer" title="Close (Esc)">
            <Icon name="close" size={20} />
          </button>
        </div>
      </header>
      <div className={`viewer-stage ${view.zoom > 1 ? 'zoomed' : ''}`} ref={stage} tabIndex={0} role="group" aria-label={showing ? `${what}${turned}` : 'Viewer'}>
        {content.state === 'loading' && (
          <div className="viewer-message">
            <p>Opening {file.name}…</p>
            {content.transfer && <TransferProgress transfer={content.transfer} label={`Downloading ${file.name}`} dark />}
          </div>
        )}
        {content.state === 'failed' && (
          <div className="viewer-message" role="alert">
            <p>{content.message}</p>
            {onRetry && <button type="button" className="secondary" onClick={onRetry}>Try again</button>}
          </div>
        )}
        {content.state === 'ready' && !decoded && <div className="viewer-message"><p>Opening {file.name}…</p></div>}
        {decoded?.kind === 'none' && <div className="viewer-message"><p>Rounds cannot show this type of file.</p></div>}
        {decoded?.kind === 'unreadable' && <div className="viewer-message" role="alert"><p>{decoded.message}</p></div>}
        {renderError && <div className="viewer-message" role="alert"><p>{renderError}</p></div>}
        {decoded?.kind === 'image' && <ImageCanvas image={decoded.image} view={view} box={size} label={`${file.name}${turned}`} onScale={setShownScale} />}
        {decoded?.kind === 'pdf' && <PdfPageCanvas pdf={decoded.pdf} view={view} box={size} label={`${pageLabel}${turned}`} onError={onRenderError} onScale={setShownScale} />}
      </div>
      <p className="visually-hidden" aria-live="polite">{showing && shownScale !== null ? `${canPage ? `${pageLabel}. ` : ''}Shown at ${Math.round(shownScale * 100)}%${turned}.` : ''}</p>
    </div>,
    document.body,
  );
}
