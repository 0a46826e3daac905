import { useLayoutEffect, useRef, useState } from 'react';
import { isRenderCancelled, type PDFDocumentProxy, type RenderTask } from './pdfDocument';
import type { BoxSize } from './useBoxSize';
import { sizeCanvas } from './canvasSize';
import { fitScale, type ViewState } from './viewState';

/**
 * One page of a PDF drawn by pdf.js into a canvas: fitted to the box's width (as reports are read), then
 * zoomed and turned. A newer page, zoom or size cancels the drawing under way. `onRendered` tells the
 * viewer the page is on screen (the tests wait for it).
 */
export function PdfPageCanvas({ pdf, view, box, label, onError }: { pdf: PDFDocumentProxy; view: ViewState; box: BoxSize; label: string; onError: (error: unknown) => void }) {
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
      const scale = fitScale(natural.width, natural.height, box.width, box.height, true) * view.zoom;
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
    })().catch((error: unknown) => {
      if (!cancelled && !isRenderCancelled(error)) onError(error);
    });
    return () => {
      cancelled = true;
      task?.cancel();
    };
  }, [pdf, view.page, view.rotation, view.zoom, box.width, box.height, onError]);
  return <canvas ref={canvas} className="viewer-canvas page" role="img" aria-label={label} data-rendered={rendered ?? undefined} />;
}
