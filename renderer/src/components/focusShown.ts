/** Marks a control the app itself gave the keyboard focus to; styled as :focus-visible is (styles.css). */
export const FOCUS_SHOWN_ATTRIBUTE = 'data-focus-shown';

/**
 * Gives `el` the keyboard focus where she can see it. The app moves the focus itself (into a dialog, back to its
 * opener, around a dialog's Tab cycle), and the browser's :focus-visible does not always follow a script's focus
 * (Chromium leaves it off when the last thing done was a click): a keyboard user would then not see where the
 * focus went. So `el` is marked until the focus leaves it, or she clicks it (a click shows no ring, as with
 * :focus-visible). Nothing happens for no element.
 */
export function focusShown(el: HTMLElement | null | undefined): void {
  if (!el) return;
  const unmark = () => {
    el.removeAttribute(FOCUS_SHOWN_ATTRIBUTE);
    el.removeEventListener('blur', unmark);
    el.removeEventListener('pointerdown', unmark);
  };
  el.setAttribute(FOCUS_SHOWN_ATTRIBUTE, '');
  el.addEventListener('blur', unmark);
  el.addEventListener('pointerdown', unmark);
  el.focus();
  // Refused (inert, hidden, disabled): no mark left behind for a later focus to show.
  if (el.ownerDocument.activeElement !== el) unmark();
}
