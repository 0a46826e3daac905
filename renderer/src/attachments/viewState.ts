/**
 * What the viewer shows of a document: zoom (1 = fitted to the window), quarter-turn rotation and, for a
 * PDF, the page. Pure: the toolbar, the keyboard and the tests all go through `applyViewAction`.
 */
export type Rotation = 0 | 90 | 180 | 270;

export interface ViewState {
  readonly zoom: number;
  readonly rotation: Rotation;
  /** 1-based. */
  readonly page: number;
  readonly pages: number;
}

export type ViewAction = 'zoomIn' | 'zoomOut' | 'fit' | 'rotateLeft' | 'rotateRight' | 'nextPage' | 'previousPage' | 'firstPage' | 'lastPage';

/** The zoom steps, as multiples of "fit to window": what the + and − buttons step through. */
export const ZOOM_STEPS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8] as const;

export function initialView(pages = 1): ViewState {
  return { zoom: 1, rotation: 0, page: 1, pages: Math.max(1, pages) };
}

export function applyViewAction(view: ViewState, action: ViewAction): ViewState {
  switch (action) {
    case 'zoomIn': return { ...view, zoom: ZOOM_STEPS.find((z) => z > view.zoom + 1e-9) ?? view.zoom };
    case 'zoomOut': return { ...view, zoom: [...ZOOM_STEPS].reverse().find((z) => z < view.zoom - 1e-9) ?? view.zoom };
    case 'fit': return { ...view, zoom: 1 };
    case 'rotateRight': return { ...view, rotation: ((view.rotation + 90) % 360) as Rotation };
    case 'rotateLeft': return { ...view, rotation: ((view.rotation + 270) % 360) as Rotation };
    case 'nextPage': return { ...view, page: Math.min(view.pages, view.page + 1) };
    case 'previousPage': return { ...view, page: Math.max(1, view.page - 1) };
    case 'firstPage': return { ...view, page: 1 };
    case 'lastPage': return { ...view, page: view.pages };
  }
}

/** The viewer's keyboard: + and − zoom, 0 fits, R and Shift+R rotate, Page Up/Down (and ←/→ when fitted) page. */
export function keyToViewAction(key: string, shift: boolean, zoomed: boolean): ViewAction | null {
  switch (key) {
    case '+': case '=': return 'zoomIn';
    case '-': case '_': return 'zoomOut';
    case '0': return 'fit';
    case 'r': case 'R': return shift ? 'rotateLeft' : 'rotateRight';
    case 'PageDown': return 'nextPage';
    case 'PageUp': return 'previousPage';
    case 'Home': return 'firstPage';
    case 'End': return 'lastPage';
    // Zoomed in, the arrow keys scroll the page (the browser does that); fitted, they turn it.
    case 'ArrowRight': return zoomed ? null : 'nextPage';
    case 'ArrowLeft': return zoomed ? null : 'previousPage';
    default: return null;
  }
}

/** The scale that fits a `width`×`height` thing (already rotated) into a box; `widthOnly`: fit the width (documents). */
export function fitScale(width: number, height: number, boxWidth: number, boxHeight: number, widthOnly: boolean): number {
  if (width <= 0 || height <= 0 || boxWidth <= 0 || boxHeight <= 0) return 1;
  const byWidth = boxWidth / width;
  return widthOnly ? byWidth : Math.min(byWidth, boxHeight / height);
}
