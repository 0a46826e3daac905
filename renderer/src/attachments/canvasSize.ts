/**
 * The largest backing store the viewer draws into (pixels): past it, a deep zoom is drawn at a lower resolution
 * and stretched, rather than asking Chromium for a canvas it refuses (and showing nothing).
 */
const MAX_CANVAS_PIXELS = 24_000_000;

/** Sizes `canvas` to show `cssWidth`×`cssHeight` on this screen; answers the device pixels per CSS pixel it got. */
export function sizeCanvas(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): number {
  let ratio = window.devicePixelRatio || 1;
  const area = cssWidth * cssHeight * ratio * ratio;
  if (area > MAX_CANVAS_PIXELS) ratio *= Math.sqrt(MAX_CANVAS_PIXELS / area);
  canvas.width = Math.max(1, Math.floor(cssWidth * ratio));
  canvas.height = Math.max(1, Math.floor(cssHeight * ratio));
  canvas.style.width = `${Math.round(cssWidth)}px`;
  canvas.style.height = `${Math.round(cssHeight)}px`;
  return ratio;
}
