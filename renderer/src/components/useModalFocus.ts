import { useEffect, type KeyboardEvent, type RefObject } from 'react';

const FOCUSABLE = 'input:not([disabled]), button:not([disabled]), select, textarea, [tabindex="0"]';

/**
 * A modal's keyboard: focus goes into `box` when it opens (the first control, or `initial`) and back to
 * where it was when it closes; Escape closes; Tab and Shift+Tab stay inside. Returns the box's onKeyDown.
 */
export function useModalFocus(box: RefObject<HTMLElement | null>, onClose: () => void, initial?: RefObject<HTMLElement | null>): (e: KeyboardEvent) => void {
  useEffect(() => {
    const previous = document.activeElement;
    (initial?.current ?? box.current?.querySelector<HTMLElement>(FOCUSABLE))?.focus();
    return () => {
      if (previous instanceof HTMLElement) previous.focus();
    };
    // Once, when the modal opens.
  }, []);
  return (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
    }
    if (e.key !== 'Tab' || !box.current) return;
    const focusable = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last?.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first?.focus();
    }
  };
}
