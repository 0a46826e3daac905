import { useEffect, useId, useRef, type InputHTMLAttributes, type ReactNode } from 'react';

/** A labelled input: the label is the control's accessible name; a hint and an error are described-by. */
export function Field({ label, hint, error, children, ...input }: { label: string; hint?: ReactNode; error?: string | null; children?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={[hintId, errorId].filter(Boolean).join(' ') || undefined} aria-invalid={error ? true : undefined} {...input} />
      {hint && <div className="hint" id={hintId}>{hint}</div>}
      {error && <div className="field-error" id={errorId}>{error}</div>}
      {children}
    </div>
  );
}

/** An error the user can act on, announced to screen readers. */
/** An error for the form it heads: brought into view when it appears or changes (the button is often far below it). */
export function Alert({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: 'nearest' });
  }, [children]);
  return <div ref={ref} className="alert" role="alert">{children}</div>;
}
