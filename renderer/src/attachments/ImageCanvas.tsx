import { useLayoutEffect, useRef } from 'react';
import type { BoxSize } from './useBoxSize';
import { sizeCanvas } from './canvasSize';
import { fitScale, type ViewState } from './viewState';

/**
 * A decoded image drawn into a canvas, fitted to the box (never enlarged past its own pixels when fitted),
 * then zoomed and turned. `onScale`: the size shown, as a share of the image's own pixels (1 = 100%). The image was decoded from bytes in memory (createImageBitmap): no URL, no file.
 */
export function ImageCanvas({ image, view, box, label, onScale }: { image: ImageBitmap; view: ViewState; box: BoxSize; label: string; onScale: (scale: number) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useLayoutEffect(() => {
    const el = canvas.current;
    const context = el?.getContext('2d');
    if (!el || !context || box.width <= 0) return;
    const turned = view.rotation % 180 !== 0;
    const [width, height] = turned ? [image.height, image.width] : [image.width, image.height];
    const scale = Math.min(1, fitScale(width, height, box.width, box.height, false)) * view.zoom;
    const ratio = sizeCanvas(el, width * scale, height * scale);
    context.setTransform(ratio * scale, 0, 0, ratio * scale, 0, 0);
    context.translate(width / 2, height / 2);
    context.rotate((view.rotation * Math.PI) / 180);
    context.imageSmoothingQuality = 'high';
    context.drawImage(image, -image.width / 2, -image.height / 2);
    onScale(scale);
  }, [image, view.rotation, view.zoom, box.width, box.height, onScale]);
  return <canvas ref={canvas} className="viewer-canvas" role="img" aria-label={label} />;
}
