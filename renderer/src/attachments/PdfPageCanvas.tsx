import { useLayoutEffect, useRef, useState } from 'react';
import { isRenderCancelled, type PDFDocumentProxy, type RenderTask } from './pdfDocument';
import type { BoxSize } from './useBoxSize';
import { sizeCanvas } from './canvasSize';
import { fitScale, type ViewState } from './viewState';

/** A PDF point is 1/72 inch, a CSS pixel 1/96: at this scale a page shows at its printed size ("100%"). */
const CSS_PX_PER_POINT = 96 / 72;

/**
 * One page of a PDF drawn by pdf.js into a canvas: fitted to the box's width (as reports are read), then
 * zoomed and turned; `onScale`: the size shown as a share of the printed size. A newer page, zoom or size cancels the drawing under way. `onRendered` tells the
 * viewer the page is on screen (the tests wait for it).
 */
export function PdfPageCanvas({ pdf, view, box, label, onError, onScale }: {
  pdf: PDFDocumentProxy; view: ViewState; box: BoxSize; label: string; onError: (error: unknown) => void; onScale: (scale: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [rendered, setRendered] = useState<string | null>(null);
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el || box.width <= 0) return;
    let task: RenderTask | null = null;
    let cancelled = false;
    const key = `${view.page}/${view.rotation}/${view.zoom}/${box.width}x${box.height}`;
    void (async () => {
      const page = await pdf.getPage(view.page);
      if (cancelled) return;
      // The page's own rotation plus the user's.
      const rotation = (page.rotate + view.rotation) % 360;
      const natural = page.getViewport({ scale: 1, rotation });
      // Fitted to the width, but not past 110% of print size: a letter page stays a page on a wide screen.
      const scale = Math.min(fitScale(natural.width, natural.height, box.width, box.height, true), 1.1 * CSS_PX_PER_POINT) * view.zoom;
      const viewport = page.getViewport({ scale, rotation });
      // Drawn off screen first: the old page stays until the new one is complete (no white flash while paging).
      const offscreen = document.createElement('canvas');
      const ratio = sizeCanvas(offscreen, viewport.width, viewport.height);
      task = page.render({ canvas: offscreen, viewport, transform: ratio === 1 ? undefined : [ratio, 0, 0, ratio, 0, 0] });
      await task.promise;
      if (cancelled) return;
      sizeCanvas(el, viewport.width, viewport.height);
      el.getContext('2d')?.drawImage(offscreen, 0, 0);
      setRendered(key);
      onScale(scale / CSS_PX_PER_POINT);
    })().catch((error: unknown) => {
      if (!cancelled && !isRenderCancelled(error)) onError(error);
    });
    return () => {
      cancelled = true;
      task?.cancel();
    };
  }, [pdf, view.page, view.rotation, view.zoom, box.width, box.height, onError, onScale]);
  return <canvas ref={canvas} className="viewer-canvas page" role="img" aria-label={label} data-rendered={rendered ?? undefined} />;
}
