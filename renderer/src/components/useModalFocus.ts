import { useLayoutEffect, useRef, type KeyboardEvent, type RefObject } from 'react';
import { focusShown } from './focusShown';
import { LIVE_REGION_ATTRIBUTE } from './LiveRegion';

const FOCUSABLE = 'input:not([disabled]), button:not([disabled]), select, textarea, [tabindex="0"]';

/**
 * Makes everything in the page but the modal `box` inert (each sibling of the box and of its ancestors, up to the
 * body: a modal drawn in a portal leaves the app root behind it), so neither the keyboard nor a screen reader
 * reaches it, wherever the focus happens to start. The live region is left alone: it holds no control, and what
 * it says (an urgent message that arrives now) must still be heard. Returns what it made inert, to be given back.
 */
function inertAround(box: HTMLElement | null): HTMLElement[] {
  const made: HTMLElement[] = [];
  for (let el = box; el && el !== document.body && el.parentElement; el = el.parentElement) {
    for (const sibling of el.parentElement.children) {
      if (sibling !== el && sibling instanceof HTMLElement && !sibling.inert && !sibling.hasAttribute(LIVE_REGION_ATTRIBUTE)) made.push(sibling);
    }
  }
  for (const el of made) el.inert = true;
  return made;
}

/** The open modals, the top-most last: Escape closes only that one. */
const openModals: object[] = [];

/**
 * A modal's keyboard: what is behind it is inert while it is open; focus goes into `box` when it opens (the first
 * control, or `initial`) and back to where it was when it closes, shown there however the modal was opened or closed
 * (focusShown); Tab and Shift+Tab stay inside. Escape closes the
 * top-most open modal wherever the focus is: on one of its controls, or on the page's body after a click on the
 * dialog's own text (what is behind it is inert, so the key can mean nothing else). A control inside that keeps
 * Escape for itself stops its propagation or prevents its default. Returns the box's onKeyDown.
 */
export function useModalFocus(box: RefObject<HTMLElement | null>, onClose: () => void, initial?: RefObject<HTMLElement | null>): (e: KeyboardEvent) => void {
  const close = useRef(onClose);
  close.current = onClose;
  // A layout effect, so the page is given back within the commit that closes the modal: when the whole screen
  // goes with it (the app locks with a dialog open), the next screen's autofocus then lands on a page that is no
  // longer inert. A passive cleanup would run after that autofocus, which inert had swallowed.
  useLayoutEffect(() => {
    const previous = document.activeElement;
    const behind = inertAround(box.current);
    focusShown(initial?.current ?? box.current?.querySelector<HTMLElement>(FOCUSABLE));
    const self = {};
    openModals.push(self);
    const onEscape = (e: globalThis.KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || e.isComposing || openModals[openModals.length - 1] !== self) return;
      e.preventDefault();
      close.current();
    };
    document.addEventListener('keydown', onEscape);
    return () => {
      document.removeEventListener('keydown', onEscape);
      openModals.splice(openModals.indexOf(self), 1);
      for (const el of behind) el.inert = false;
      // The opener may have left the page (the screen changed): focusing it would only blur what has focus now.
      if (previous instanceof HTMLElement && previous.isConnected) focusShown(previous);
    };
    // Once, when the modal opens.
  }, []);
  return (e: KeyboardEvent) => {
    if (e.key !== 'Tab' || !box.current) return;
    const focusable = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      focusShown(last);
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      focusShown(first);
    }
  };
}
